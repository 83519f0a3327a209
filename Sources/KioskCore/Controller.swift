/// A customer's request for a product, as the controller (VMC) sent it.
public struct VendRequest: Hashable, Sendable {
    public let id: VendID
    public let product: ProductCode
    public let price: Money

    public init(id: VendID, product: ProductCode, price: Money) {
        self.id = id
        self.product = product
        self.price = price
    }
}

/// Something the vending machine's controller told the daemon, independent of the protocol
/// (`vmc-line` or `qibixx-mdb`) that carried it.
public enum ControllerEvent: Hashable, Sendable {
    /// The controller (re)started or (re)enabled the payment peripheral; it wants to know
    /// whether the daemon can take payments.
    case hello(name: String, version: String)
    /// A customer chose a product.
    case vendRequested(VendRequest)
    /// The customer cancelled at the machine before payment.
    case vendAborted(VendID)
    /// The product came out.
    case dispensed(VendID)
    /// Dispensing failed after the daemon commanded it.
    case dispenseFailed(VendID, reason: String)
    /// After the daemon commanded the dispense, the controller ended the vend without saying
    /// whether the product came out (MDB: the adapter reset, or the session closed with no
    /// result). Never a refund by itself: the session ends `dispense_unknown`.
    case dispenseUnknown(VendID, reason: String)
    /// Liveness probe; answered with `pong`.
    case ping
    /// The controller disabled the payment peripheral or is not set up (MDB states
    /// INACTIVE/DISABLED). No vend can come until it sends `hello` again.
    case unavailable(reason: String)
    /// The payment adapter refused its set-up (MDB: a `C,SETCONF` parameter answered `c,ERR`):
    /// the reader stays disabled until a later set-up succeeds. `reason` names what was refused
    /// and the config key to fix. The kiosk is out of service meanwhile.
    case setUpRefused(reason: String)
    /// The payment adapter's set-up finished (every parameter accepted); clears `setUpRefused`.
    case setUpDone
    /// A line that could not be understood. Nothing happened because of it.
    case malformed(line: String, reason: String)
}

/// Why a vend gets no sale (`DENY <id> <reason>` in vmc-line).
public enum DenyReason: String, Hashable, Sendable, CaseIterable {
    case timeout
    case aborted
    case unavailable
    case invalid
    case duplicateID = "duplicate-id"
    case error
}

/// Something the daemon tells the controller, independent of the protocol.
public enum ControllerCommand: Hashable, Sendable {
    /// The daemon can take payments (`READY`; MDB: enable the cashless peripheral).
    case ready
    /// The daemon cannot take payments now (`OUT-OF-SERVICE <reason>`; MDB: disable).
    case outOfService(reason: String)
    /// The invoice exists and its QR code is on the display.
    case accept(VendID)
    /// Paid: release the product. Sent at most once per vend id, ever.
    case dispense(VendID, price: Money)
    /// No sale.
    case deny(VendID, DenyReason)
    /// The last line could not be understood; nothing happened.
    case error(message: String)
    /// Answer to `ping`.
    case pong
    /// Text for the machine's own display where the protocol has one (MDB `C,DISPLAY`).
    case displayText(String)
}

/// A failed write of a command to the controller that can say whether any byte of the line left
/// the board: a line partly out may still be acted on by the machine (a `DISPENSE` then has an
/// unknown outcome, never "not sent").
public protocol ControllerWriteFailure: Error {
    /// Some bytes of the command line were written before the failure.
    var someBytesLeft: Bool { get }
}
