import KioskCore
import KioskJournal
import Logging
import Synchronization

/// MDB vend ids (`mdb-<n>`) from the journal's durable counter: numbers are reserved in
/// blocks (one durable write per block) and never handed out twice, across restarts, clock
/// steps and power cuts. A block left unused at a stop is skipped.
final class MDBVendIDs: Sendable {
    private struct State {
        var next: Int64 = 1
        var last: Int64 = 0
    }

    private let journal: Journal
    private let blockSize: Int
    private let logger: Logger
    private let state = Mutex(State())

    init(journal: Journal, blockSize: Int = 64, logger: Logger) {
        precondition(blockSize > 0, "vend id blocks hold at least one id")
        self.journal = journal
        self.blockSize = blockSize
        self.logger = logger
    }

    /// The next id; nil when the journal cannot reserve a block (the vend is then denied).
    func make() -> VendID? {
        state.withLock { state in
            if state.next > state.last {
                do {
                    let block = try journal.reserveVendNumbers(blockSize)
                    state.next = block.lowerBound
                    state.last = block.upperBound
                } catch {
                    logger.error(
                        "cannot reserve MDB vend ids in the journal \(journal.path): \(error); the vend request is denied"
                    )
                    return nil
                }
            }
            defer { state.next += 1 }
            return VendID("mdb-\(state.next)")
        }
    }
}
