import KioskCore

/// What the machine's display shows. The session layer picks one; outputs draw it.
public enum Screen: Hashable, Sendable {
    /// Waiting for a customer; `message` invites them to choose a product.
    case idle(message: String)
    /// Waiting for payment of an invoice.
    case pay(PayScreen)
    /// The invoice is paid and the product is being dispensed.
    case paid(product: String)
    /// The vend was cancelled or timed out; `reason` is shown to the customer.
    case cancelled(reason: String)
    /// The machine cannot take payments right now.
    case outOfService(reason: String)
}

/// The content of the pay screen: the QR, what is bought, for how much, and how long is left.
public struct PayScreen: Hashable, Sendable {
    /// The text encoded in the QR code (a URL or a Lightning invoice), from the `qr.payload` template.
    public var qrPayload: String
    public var product: String
    public var price: Money
    /// Seconds until the invoice expires; shown as a countdown.
    public var secondsLeft: Int

    public init(qrPayload: String, product: String, price: Money, secondsLeft: Int) {
        self.qrPayload = qrPayload
        self.product = product
        self.price = price
        self.secondsLeft = secondsLeft
    }

    /// `1:05` for 65 seconds; never negative.
    public var countdown: String {
        let s = max(0, secondsLeft)
        let seconds = s % 60
        return "\(s / 60):" + (seconds < 10 ? "0" : "") + String(seconds)
    }

    /// Whether `other` differs from this screen only by its countdown (a tick, not a new screen).
    public func isTick(of other: PayScreen) -> Bool {
        qrPayload == other.qrPayload && product == other.product && price == other.price
    }
}

/// The words each screen shows, shared by the pixel and the terminal outputs so they agree.
enum ScreenText {
    static let scanToPay = "Scan to pay"
    static let paidHeading = "Paid, thank you"
    static let cancelledHeading = "Cancelled"
    static let outOfServiceHeading = "Out of service"

    static func price(_ price: Money) -> String { price.description }
    static func timeLeft(_ pay: PayScreen) -> String { "Time left \(pay.countdown)" }
    static func dispensing(_ product: String) -> String { "Dispensing \(product)…" }
}
