import KioskDaemon
import Testing

/// The latch the daemon's after-READY services wait on.
@Suite struct LatchTests {
    @Test func aWaiterResumesWhenTheLatchOpens() async {
        let latch = Latch()
        let waiter = Task { await latch.wait() }
        #expect(!latch.isOpen)
        latch.open()
        #expect(await waiter.value == true)
        #expect(latch.isOpen)
    }

    @Test func aWaitOnAnOpenLatchReturnsAtOnce() async {
        let latch = Latch()
        latch.open()
        latch.open()  // a second open changes nothing
        #expect(await latch.wait() == true)
    }

    @Test func aCancelledWaiterReturnsWithTheLatchStillClosed() async {
        let latch = Latch()
        let waiter = Task { await latch.wait() }
        waiter.cancel()
        #expect(await waiter.value == false)
        #expect(!latch.isOpen)
    }
}
