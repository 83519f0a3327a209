/// Plain settings shared by the config loader (which fills them from TOML) and the layers
/// that use them. No I/O here.

/// How the serial line to the controller is set up (from the hardware profile, overridable).
public struct SerialOptions: Hashable, Sendable {
    public enum Parity: String, Hashable, Sendable, CaseIterable { case none, odd, even, mark, space }
    public enum FlowControl: String, Hashable, Sendable, CaseIterable { case none, xonxoff, rtscts, dtrdsr }

    /// A serial device (`/dev/ttyAMA0`, `/dev/ttyACM0`) or any tty path (a pty, a socat link).
    public var device: String
    public var baud: Int
    public var dataBits: Int
    public var parity: Parity
    public var stopBits: Int
    public var flowControl: FlowControl

    public init(
        device: String, baud: Int = 115_200, dataBits: Int = 8, parity: Parity = .none, stopBits: Int = 1,
        flowControl: FlowControl = .none
    ) {
        self.device = device
        self.baud = baud
        self.dataBits = dataBits
        self.parity = parity
        self.stopBits = stopBits
        self.flowControl = flowControl
    }
}

/// Which line protocol the controller speaks.
public enum ControllerProtocolKind: String, Hashable, Sendable, CaseIterable {
    /// A Qibixx MDB adapter in cashless-peripheral (slave) mode.
    case qibixxMDB = "qibixx-mdb"
    /// The project's own plain-text protocol for custom controllers.
    case vmcLine = "vmc-line"
}

/// QR error correction level (libqrencode's L, M, Q, H).
public enum QRErrorCorrection: String, Hashable, Sendable, CaseIterable { case L, M, Q, H }

/// Where screens go and how they are drawn.
public struct DisplayOptions: Hashable, Sendable {
    public enum Output: String, Hashable, Sendable, CaseIterable { case framebuffer, png, terminal, none }

    public var output: Output
    /// The framebuffer device (`/dev/fb0`) or a plain file standing in for one.
    public var device: String
    /// Geometry for a plain-file framebuffer (a real fbdev reports its own).
    public var width: Int?
    public var height: Int?
    public var bitsPerPixel: Int?
    public var pngPath: String
    public var errorCorrection: QRErrorCorrection
    /// The screens' language and the operator's text overrides (`[display] language`, `[display.texts]`).
    public var texts: ScreenTexts

    public init(
        output: Output, device: String = "/dev/fb0", width: Int? = nil, height: Int? = nil, bitsPerPixel: Int? = nil,
        pngPath: String = "/run/drippay-kiosk/screen.png", errorCorrection: QRErrorCorrection = .M,
        texts: ScreenTexts = ScreenTexts()
    ) {
        self.texts = texts
        self.output = output
        self.device = device
        self.width = width
        self.height = height
        self.bitsPerPixel = bitsPerPixel
        self.pngPath = pngPath
        self.errorCorrection = errorCorrection
    }
}

/// `[support]`: what a customer is told after a paid vend that did not dispense (refund due,
/// dispense unknown): whom to ask, optionally a URL drawn as a QR, and for how long.
public struct SupportOptions: Hashable, Sendable {
    /// The operator's contact as the customer reads it, e.g. "+1 555 0100 · help@example.com".
    public var contact: String?
    /// A help page drawn as a QR; `{customer_reference}` in it becomes the customer's reference.
    public var url: String?
    /// How long the notice stays up before the idle screen returns (`notice_s`).
    public var noticeSeconds: Int

    public init(contact: String? = nil, url: String? = nil, noticeSeconds: Int = 30) {
        self.contact = contact
        self.url = url
        self.noticeSeconds = noticeSeconds
    }

    /// `url` with `{customer_reference}` filled in; nil without a URL.
    public func url(for customerReference: CustomerReference) -> String? {
        url?.replacingAll("{customer_reference}", with: customerReference.text)
    }
}
