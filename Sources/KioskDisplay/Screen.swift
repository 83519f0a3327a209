import KioskCore
import PayCodes

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

/// What the QR area of the pay screen holds.
public enum PayCode: Hashable, Sendable {
    /// A text redrawn as a QR symbol (a Lightning request is drawn upper-case, in alphanumeric mode).
    case text(String)
    /// The invoice's own picture, drawn as it is (it held no single readable QR symbol).
    case picture(GrayImage)
    /// No payable code right now (being fetched, or the last one expired): `message` says so.
    case waiting(message: String)
}

/// The content of the pay screen: the QR, what is bought, for how much, and how long is left.
public struct PayScreen: Hashable, Sendable {
    /// What the QR area shows.
    public var code: PayCode
    public var product: String
    public var price: Money
    /// Seconds until the invoice expires; shown as a countdown.
    public var secondsLeft: Int
    /// What is wrong with the machine while this vend goes on (it goes out of service after
    /// it), drawn by every output below the price; nil: nothing to say.
    public var notice: String?

    public init(code: PayCode, product: String, price: Money, secondsLeft: Int, notice: String? = nil) {
        self.code = code
        self.product = product
        self.price = price
        self.secondsLeft = secondsLeft
        self.notice = notice
    }

    /// A pay screen whose QR encodes `qrPayload`.
    public init(qrPayload: String, product: String, price: Money, secondsLeft: Int) {
        self.init(code: .text(qrPayload), product: product, price: price, secondsLeft: secondsLeft)
    }

    /// The text in the QR (a URL or a Lightning request); empty when the screen shows a picture
    /// or waits for a code.
    public var qrPayload: String {
        if case .text(let text) = code { return text }
        return ""
    }

    /// `1:05` for 65 seconds; never negative.
    public var countdown: String {
        let s = max(0, secondsLeft)
        let seconds = s % 60
        return "\(s / 60):" + (seconds < 10 ? "0" : "") + String(seconds)
    }

    /// Whether `other` differs from this screen only by its countdown (a tick, not a new screen).
    public func isTick(of other: PayScreen) -> Bool {
        code == other.code && product == other.product && price == other.price && notice == other.notice
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
