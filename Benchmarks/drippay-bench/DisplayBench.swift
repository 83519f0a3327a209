import Foundation
import KioskCore
import KioskDisplay

/// `drippay-bench display`: time to render and write one pay screen on each output, median of 50;
/// then one countdown frame (the same QR, one second less), what the pay screen costs each second.
func runDisplayBenchmarks() async throws {
    let runs = 50
    let dir = NSTemporaryDirectory() + "drippay-bench-display-\(getpid())"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let devNull = open("/dev/null", O_WRONLY)
    defer { close(devNull) }
    let invoice = "lnbc25u1p" + String(repeating: "qpzry9x8gf2tvdw0s3jn54khce6mua7l", count: 13).prefix(391)

    let cases: [(String, any DisplayOutput)] = [
        (
            "png 480x320",
            try PNGOutput(options: DisplayOptions(output: .png, width: 480, height: 320, pngPath: dir + "/s.png"))
        ),
        (
            "png 1024x600",
            try PNGOutput(options: DisplayOptions(output: .png, width: 1024, height: 600, pngPath: dir + "/l.png"))
        ),
        (
            "framebuffer file 480x320 32bpp",
            try FramebufferOutput(
                options: DisplayOptions(
                    output: .framebuffer, device: dir + "/fb32", width: 480, height: 320, bitsPerPixel: 32))
        ),
        (
            "framebuffer file 480x320 16bpp",
            try FramebufferOutput(
                options: DisplayOptions(
                    output: .framebuffer, device: dir + "/fb16", width: 480, height: 320, bitsPerPixel: 16))
        ),
        (
            "framebuffer file 1024x600 32bpp",
            try FramebufferOutput(
                options: DisplayOptions(
                    output: .framebuffer, device: dir + "/fbl", width: 1024, height: 600, bitsPerPixel: 32))
        ),
        ("terminal to /dev/null", TerminalOutput(fileDescriptor: devNull, isTerminal: false)),
    ]
    print("display: render + write one pay screen (400-char Lightning invoice), median of \(runs) runs")
    let clock = ContinuousClock()
    func report(_ name: String, _ unsorted: [Duration]) {
        let times = unsorted.sorted()
        let median = times[times.count / 2]
        let ms = median.inSeconds * 1000
        print("  \(name.padding(toLength: 34, withPad: " ", startingAt: 0)) \(String(format: "%8.2f", ms)) ms")
    }
    for (name, output) in cases {
        var times: [Duration] = []
        for run in 0..<runs {
            // A new payload each run, so no output can skip the work as an unchanged screen.
            let screen = Screen.pay(
                PayScreen(
                    qrPayload: String(invoice.dropLast(4)) + String(1000 + run), product: "Sparkling water 0.5 l",
                    price: Money(minorUnits: 250, currency: Currency(code: "USD", minorDigits: 2)),
                    secondsLeft: 120 - run))
            times.append(try await clock.measure { try await output.show(screen) })
        }
        report(name, times)
    }
    print(
        "display: one countdown frame (same QR, one second less; targets: framebuffer <= 2 ms, png <= 5 ms at 480x320)")
    for (name, output) in cases {
        var times: [Duration] = []
        for run in 0...runs {
            let screen = Screen.pay(
                PayScreen(
                    qrPayload: invoice, product: "Sparkling water 0.5 l",
                    price: Money(minorUnits: 250, currency: Currency(code: "USD", minorDigits: 2)),
                    secondsLeft: 300 - run))
            let time = try await clock.measure { try await output.show(screen) }
            if run > 0 { times.append(time) }  // the first draws the whole screen
        }
        report(name, times)
    }
}
