import KioskCore
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("Writing every byte to a file descriptor")
struct FileDescriptorWriteTests {
    @Test func everyByteReachesThePipe() throws {
        var ends: [Int32] = [0, 0]
        try #require(pipe(&ends) == 0)
        defer { close(ends[0]) }
        let bytes = (0..<4000).map { UInt8(truncatingIfNeeded: $0 * 7) }
        let failure = bytes.withUnsafeBytes { FileDescriptorWrite.all($0, to: ends[1]) }
        close(ends[1])
        #expect(failure == nil)
        var back = [UInt8](repeating: 0, count: 8192)
        var got: [UInt8] = []
        while true {
            let n = read(ends[0], &back, back.count)
            if n <= 0 { break }
            got += back[0..<n]
        }
        #expect(got == bytes)
    }

    @Test func aFailedWriteGivesItsErrno() {
        let failure = [UInt8(1), 2, 3].withUnsafeBytes { FileDescriptorWrite.all($0, to: -1) }
        #expect(failure == EBADF)
    }

    @Test func nothingToWriteIsDone() {
        #expect([UInt8]().withUnsafeBytes { FileDescriptorWrite.all($0, to: -1) } == nil)
    }
}
