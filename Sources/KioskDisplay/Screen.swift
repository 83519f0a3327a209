import KioskCore
import PayCodes

/// What the machine's display shows. The session layer picks one; outputs draw it with the
/// words of `DisplayOptions.texts` (one catalogue, `ScreenTexts`), so every screen speaks the
/// machine's language.
public enum Screen: Hashable, Sendable {
    /// Waiting for a customer: an invitation to choose a product.
    case idle
    /// Waiting for payment of an invoice.
    case pay(PayScreen)
    /// The invoice is paid and the product is being dispensed.
    case paid(product: String)
    /// The vend ended without a sale; the customer reads why, in their words.
    case cancelled(reason: DenyReason)
    /// The machine cannot take payments right now. `reason` is the operator's (logged, shown by
    /// `status`); the customer reads the catalogue's sentence instead.
    case outOfService(reason: String)
    /// Paid, but the product may not have come out: what happens next and whom to ask.
    case refund(RefundNotice)
}

/// What the customer is told after a paid vend that did not (or may not have) dispensed.
public struct RefundNotice: Hashable, Sendable {
    /// What is known about the product.
    public enum Kind: Hashable, Sendable, CaseIterable {
        /// Not dispensed: the payment will be refunded (`refund_due`).
        case refundDue
        /// Dispensing was commanded, its outcome is unknown (`dispense_unknown`).
        case dispenseUnknown
        /// Whether the customer paid could not be found out (`unresolved`).
        case unresolved
    }

    public var kind: Kind
    /// What the customer quotes to the operator (derived from the trade_no).
    public var customerReference: CustomerReference
    /// The operator's contact (`[support] contact`); nil: not shown.
    public var contact: String?
    /// A help page drawn as a QR beside the text (`[support] url`); nil: no QR.
    public var url: String?

    public init(kind: Kind, customerReference: CustomerReference, contact: String? = nil, url: String? = nil) {
        self.kind = kind
        self.customerReference = customerReference
        self.contact = contact
        self.url = url
    }

    /// The notice for the session `tradeNo` with the operator's `support` settings.
    public init(kind: Kind, tradeNo: TradeNo, support: SupportOptions) {
        let customerReference = tradeNo.customerReference
        self.init(
            kind: kind, customerReference: customerReference, contact: support.contact,
            url: support.url(for: customerReference))
    }
}

/// What the QR area of the pay screen holds.
public enum PayCode: Hashable, Sendable {
    /// A text redrawn as a QR symbol (a Lightning request is drawn upper-case, in alphanumeric mode).
    case text(String)
    /// The invoice's own picture, drawn as it is (it held no single readable QR symbol).
    case picture(GrayImage)
    /// No payable code right now (being fetched, or the last one expired): `message` says so.
    case waiting(message: ScreenTextKey)
}

/// The content of the pay screen: the QR, what is bought, for how much, and how long is left.
public struct PayScreen: Hashable, Sendable {
    /// What the QR area shows.
    public var code: PayCode
    public var product: String
    public var price: Money
    /// Seconds until the invoice expires; shown as a countdown.
    public var secondsLeft: Int
    /// Why the machine goes out of service after this vend (the operator's reason, not drawn):
    /// while set, every output tells the customer so below the price; nil: nothing to say.
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

/// The words each screen shows, from the catalogue, shared by the pixel and the terminal
/// outputs so they agree.
extension ScreenTexts {
    func timeLeft(_ pay: PayScreen) -> String { text(.timeLeft, ["time": pay.countdown]) }
    func dispensing(_ product: String) -> String { text(.dispensing, ["product": product]) }

    func cancelled(_ reason: DenyReason) -> String {
        switch reason {
        case .timeout: return self[.cancelledTimeout]
        case .aborted: return self[.cancelledAborted]
        case .unavailable: return self[.cancelledUnavailable]
        case .invalid, .duplicateID, .error: return self[.cancelledError]
        }
    }

    func heading(_ kind: RefundNotice.Kind) -> String {
        kind == .refundDue ? self[.notDispensedHeading] : self[.problemHeading]
    }

    func body(_ kind: RefundNotice.Kind) -> String {
        switch kind {
        case .refundDue: return self[.refundDue]
        case .dispenseUnknown: return self[.dispenseUnknown]
        case .unresolved: return self[.unresolved]
        }
    }

    func customerReference(_ notice: RefundNotice) -> String {
        text(.customerReference, ["customer_reference": notice.customerReference.text])
    }

    func contact(_ notice: RefundNotice) -> String? {
        notice.contact.map { text(.refundContact, ["contact": $0]) }
    }
}
