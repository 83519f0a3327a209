import DripPayAPI
import DripPaySandbox
import Foundation
import KioskCore
import KioskDisplay
import PayCodeImaging
import PayCodes

/// `drippay-bench paycodes`: the invoice's QR image path. Module counts and sizes of a 350-character
/// BOLT11 drawn lower-case (byte mode) and upper-case (alphanumeric); create answered -> first pay
/// frame written; CPU time per refresh (fetch + decode + redraw). Against the in-process sandbox.
func runPayCodeBenchmarks() async throws {
    // A 350-character BOLT11 (the sandbox's encoder, description padded to length).
    var description = "DripPay benchmark quote"
    var bolt11 = ""
    repeat {
        description += "x"
        bolt11 = Bolt11Invoice.encode(
            network: "bc", amountMsat: 2_301_000, timestamp: 1_780_000_000,
            paymentHash: [UInt8](repeating: 0xab, count: 32),
            paymentSecret: [UInt8](repeating: 0x11, count: 32), description: description, expirySeconds: 30,
            signature: [UInt8](repeating: 0x5c, count: 65))
    } while bolt11.count < 350
    print("paycodes: a \(bolt11.count)-character BOLT11, QR level M, 4-module quiet zone")
    let lower = try QRCode(payload: bolt11, errorCorrection: .M)
    let upper = try QRCode.forScreen(bolt11, errorCorrection: .M)
    for (w, h) in [(480, 320), (800, 480)] {
        let side = ScreenRenderer.payLayout(width: w, height: h).qr.width
        for (name, code) in [("lower-case, byte mode", lower), ("upper-case, alphanumeric", upper)] {
            let modules = code.size + 2 * QRLayout.quietZone
            print(
                "  \(w)x\(h) \(name.padding(toLength: 26, withPad: " ", startingAt: 0)) version \(code.version), \(code.size) modules (+8 quiet), \(side / modules) px per module"
            )
        }
    }

    let token = APISandbox.generateToken()
    let sandbox = APISandbox(tokens: [token: Set(Ability.allCases)], quoteSeconds: 30)
    try await sandbox.start()
    let base = await sandbox.baseURL
    let client = try DripPayClient(
        baseURL: base, token: APIToken(token), requestTimeout: .seconds(5), rateLimited: false)
    let fetcher = try QRImageFetcher(apiBaseURL: base, token: APIToken(token), timeout: .seconds(5), apiBudget: {})
    let dir = NSTemporaryDirectory() + "drippay-bench-paycodes-\(getpid())"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let output = try PNGOutput(
        options: DisplayOptions(output: .png, width: 480, height: 320, pngPath: dir + "/screen.png"))
    let usd = Currency(iso: "USD")!
    let clock = ContinuousClock()

    func payFrame(_ url: String, etag: String?) async throws -> (String?, Bool) {
        switch try await fetcher.fetch(url, etag: etag) {
        case .notModified: return (etag, false)
        case .fresh(let bytes, let type, let newETag, _):
            guard case .text(let text) = try PayCodeReader.read(bytes, contentType: type) else {
                throw BenchFailure("no QR in the image")
            }
            try await output.show(
                .pay(
                    PayScreen(
                        qrPayload: text, product: "Soda", price: Money(minorUnits: 150, currency: usd), secondsLeft: 90)
                ))
            return (newETag, true)
        }
    }

    // Create answered -> the first pay frame (fetch, decode, redraw, PNG written).
    let runs = 20
    var firstFrame: [Duration] = []
    var urls: [String] = []
    for run in 0..<runs {
        let invoice = try await client.createInvoice(
            CreateInvoiceRequest(
                machineID: "BENCH", tradeNo: TradeNo("B-\(getpid())-\(run)"), currency: usd,
                items: [.init(description: "Soda", amount: Money(minorUnits: 150, currency: usd))]))
        guard let url = invoice.qrCodeImageURL else { throw BenchFailure("the sandbox gave no qr_code_image_url") }
        urls.append(url)
        firstFrame.append(try await clock.measure { _ = try await payFrame(url, etag: nil) })
    }
    firstFrame.sort()
    print(
        "  create answered -> first pay frame written (png 480x320): median \(ms(firstFrame[runs / 2])) ms, max \(ms(firstFrame[runs - 1])) ms (\(runs) invoices)"
    )

    // CPU per refresh: a full refresh (new image) and a conditional one that answers 304.
    func cpu() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
    }
    let refreshes = 30
    var c0 = cpu()
    var etag: String?
    for i in 0..<refreshes { (etag, _) = try await payFrame(urls[i % urls.count], etag: nil) }
    let full = (cpu() - c0) / Double(refreshes)
    let lastURL = urls[(refreshes - 1) % urls.count]
    c0 = cpu()
    var redrawn = 0
    for _ in 0..<refreshes {
        let (_, drew) = try await payFrame(lastURL, etag: etag)
        if drew { redrawn += 1 }
    }
    let conditional = (cpu() - c0) / Double(refreshes)
    print(
        "  CPU per refresh, fetch + decode + redraw: \(String(format: "%.2f", full * 1000)) ms; conditional (304, no redraw): \(String(format: "%.2f", conditional * 1000)) ms (\(redrawn) of \(refreshes) redrew); process CPU, sandbox serving included"
    )
    await fetcher.shutdown()
    await sandbox.stop()
}

struct BenchFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

private func ms(_ d: Duration) -> String {
    String(format: "%.2f", d.inSeconds * 1000)
}
