import Glibc
import KioskCore

/// Somewhere screens are shown. Implementations are actors: one screen is drawn at a time.
public protocol DisplayOutput: Sendable {
    func show(_ screen: Screen) async throws
}

/// The `none` output: the machine has no display of its own (or it is driven elsewhere).
public struct NoDisplayOutput: DisplayOutput {
    public init() {}

    public func show(_ screen: Screen) async throws {}
}

/// The output the options ask for, opened and checked now (fonts found, framebuffer geometry read)
/// so that a bad setting fails at start-up rather than at the first customer.
///
/// - Parameters:
///   - terminalFileDescriptor: where the `terminal` output writes (stdout by default).
///   - fontLocator: where to look for DejaVu Sans.
public func makeDisplayOutput(
    options: DisplayOptions, terminalFileDescriptor: Int32 = STDOUT_FILENO, fontLocator: FontLocator = FontLocator()
) throws(DisplayError) -> any DisplayOutput {
    switch options.output {
    case .framebuffer:
        return try FramebufferOutput(options: options, fontLocator: fontLocator)
    case .png:
        return try PNGOutput(options: options, fontLocator: fontLocator)
    case .terminal:
        return TerminalOutput(
            fileDescriptor: terminalFileDescriptor, errorCorrection: options.errorCorrection, texts: options.texts)
    case .none:
        return NoDisplayOutput()
    }
}

/// Draws a sample pay screen for `payload` on the configured output: the `qr` command, for a
/// technician checking the display and a phone's scan.
public func drawTestScreen(options: DisplayOptions, payload: String) async throws {
    let output = try makeDisplayOutput(options: options)
    let sample = PayScreen(
        qrPayload: payload, product: "Test product",
        price: Money(minorUnits: 150, currency: Currency(iso: "USD") ?? Currency(code: "USD", minorDigits: 2)),
        secondsLeft: 120)
    try await output.show(.pay(sample))
}
