import DripPayAPI
import KioskCore
import KioskDisplay
import KioskJournal
import Logging
import PayCodeImaging
import PayCodes
import Synchronization

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The pay intent's payload when the QR comes from the invoice's own image: the session's
/// trade_no and the image URL, as the coordinator stores it in the journal. The display resolves
/// it into a code through `PayCodeKeeper`, also after a restart (the resumed session fetches again).
public struct InvoiceImageRef: Hashable, Sendable {
    static let prefix = "invoice-image:"
    public let tradeNo: TradeNo
    /// `qr_code_image_url`; empty when the API gave none.
    public let url: String

    public init(tradeNo: TradeNo, url: String) {
        self.tradeNo = tradeNo
        self.url = url
    }

    /// `invoice-image:<trade_no> <url>`.
    public var payload: String { Self.prefix + tradeNo.rawValue + " " + url }

    public init?(payload: String) {
        guard payload.hasPrefix(Self.prefix) else { return nil }
        let rest = payload.dropFirst(Self.prefix.count)
        guard let space = rest.firstIndex(of: " ") else { return nil }
        tradeNo = TradeNo(String(rest[..<space]))
        url = String(rest[rest.index(after: space)...])
    }
}

/// Keeps the pay screen's code current while it is up: fetches the invoice's QR image, decodes
/// it (WebP/PNG, zbar), hands the text (or, failing a single readable symbol, the picture) to the
/// display, re-fetches conditionally on `PayCodeSchedule`, takes a BOLT11 code down when it
/// expires ("being refreshed") and writes each code shown into the session's journal.
public final class PayCodeKeeper: Sendable {
    // What the QR area says meanwhile, in the machine's language (the screens' catalogue).
    static let gettingCode = ScreenTextKey.gettingCode
    static let refreshingCode = ScreenTextKey.refreshingCode
    static let noImage = ScreenTextKey.noCode

    private let fetcher: QRImageFetcher
    private let schedule: PayCodeSchedule
    private let record: @Sendable (TradeNo, JournalEventKind, String, Date) -> Void
    private let logger: Logger
    private let now: @Sendable () -> Date

    /// - Parameter record: appends an event (kind, detail, the time from `now`) to the session's journal.
    public init(
        fetcher: QRImageFetcher, schedule: PayCodeSchedule, logger: Logger,
        now: @escaping @Sendable () -> Date = Date.init,
        record: @escaping @Sendable (TradeNo, JournalEventKind, String, Date) -> Void
    ) {
        self.fetcher = fetcher
        self.schedule = schedule
        self.record = record
        self.logger = logger
        self.now = now
    }

    /// What a code's journal event says: the request, and for BOLT11 its payment hash, amount and expiry.
    static func eventDetail(_ text: String, invoice: Bolt11Invoice?) -> String {
        guard let invoice else { return "request=\(text)" }
        let expiry = Date(timeIntervalSince1970: TimeInterval(invoice.expiresAt))
        return "payment_hash=\(invoice.paymentHash) amount_msat=\(invoice.amountMsat.map(String.init) ?? "any") "
            + "expires_at=\(expiry.journalISO8601) request=\(text)"
    }

    /// What finishes first while a fetch is on its way: its answer, or the expiry of the code on screen.
    private enum FetchStep: Sendable {
        case done(Result<QRImageFetch, any Error>)
        case codeExpired
    }

    /// Runs until the screen is no longer current (`isCurrent` false, `changed` signalled), the
    /// deadline passes, or the task is cancelled.
    func keep(
        _ ref: InvoiceImageRef, deadline: Date, changed: Pulse, isCurrent: @escaping @Sendable () -> Bool,
        present: @escaping @Sendable (PayCode) -> Void
    ) async {
        let meta: Logger.Metadata = ["trade_no": "\(ref.tradeNo)", "url": "\(ref.url)"]
        guard !ref.url.isEmpty else {
            logger.error("the invoice has no qr_code_image_url; nothing payable can be shown", metadata: meta)
            present(.waiting(message: Self.noImage))
            return
        }
        var etag: String?
        var lastModified: String?
        var content: PayCodeContent?
        var shownText: String?
        var expiresAt: Double?  // of the code on screen
        var showing = false
        var pictureLogged = false
        var lastError: String?
        // What the schedule plans from: recent fetch starts (at most the budget's worth), when the
        // payable code went away and how often it was asked for since, the image's freshness.
        var recentFetches: [Double] = []
        var codeGoneAt: Double?
        var attemptsWithoutCode = 0
        var freshUntil: Double?
        var lastFetchAt = -Double.infinity
        var nextFetch = now().timeIntervalSince1970

        // Never an expired code on screen: say it is being refreshed until a fresh one comes.
        func takeDownExpired() {
            guard showing, let expiry = expiresAt, now().timeIntervalSince1970 >= expiry, isCurrent() else { return }
            present(.waiting(message: Self.refreshingCode))
            showing = false
            expiresAt = nil
            codeGoneAt = expiry
            attemptsWithoutCode = 0
            logger.debug("pay code expired; refreshing", metadata: meta)
        }

        while !Task.isCancelled, isCurrent(), now() < deadline {
            let t = now().timeIntervalSince1970
            if t >= nextFetch {
                recentFetches.append(t)
                if recentFetches.count > schedule.budget { recentFetches.removeFirst() }
                let answer = await fetchWatchingExpiry(
                    ref.url, etag: etag, lastModified: lastModified, expiresAt: showing ? expiresAt : nil,
                    onExpiry: takeDownExpired)
                switch answer {
                case .success(let fetch):
                    freshUntil = fetch.freshFor.map { now().timeIntervalSince1970 + $0 }
                    lastError = nil
                    if case .fresh(let bytes, let contentType, let newETag, let newLastModified) = fetch.answer {
                        etag = newETag
                        lastModified = newLastModified
                        do {
                            content = try PayCodeReader.read(bytes, contentType: contentType)
                        } catch {
                            lastError = report(error, previous: lastError, meta: meta)
                            // A broken answer does not keep a stale validator: ask in full next time.
                            etag = nil
                            lastModified = nil
                            content = nil
                        }
                    }
                case .failure(let error):
                    if error is CancellationError { return }
                    lastError = report(error, previous: lastError, meta: meta)
                }
                guard isCurrent(), !Task.isCancelled else { return }
                let fetchedAt = now().timeIntervalSince1970
                lastFetchAt = fetchedAt
                let wasShowing = showing
                switch content {
                case .text(let text)?:
                    let invoice = try? Bolt11Invoice.decode(text)
                    let expiry = invoice.map { Double($0.expiresAt) }
                    if PayCodeSchedule.isShowable(expiresAt: expiry, now: fetchedAt) {
                        if text != shownText || !showing {
                            present(.text(text))
                            if text != shownText {
                                record(ref.tradeNo, .qrShown, Self.eventDetail(text, invoice: invoice), now())
                                logger.info(
                                    "pay code shown",
                                    metadata: meta.merging(["payment_hash": "\(invoice?.paymentHash ?? "-")"]) { $1 })
                            }
                            shownText = text
                        }
                        showing = true
                        expiresAt = expiry
                    } else {
                        if showing || shownText == nil { present(.waiting(message: Self.refreshingCode)) }
                        if showing { codeGoneAt = expiry ?? fetchedAt }
                        showing = false
                        expiresAt = nil
                    }
                case .image(let picture, let reason)?:
                    if !pictureLogged {
                        logger.warning(
                            "the invoice's QR image holds no single readable code (\(reason)); drawing the image itself",
                            metadata: meta)
                        record(
                            ref.tradeNo, .qrShown,
                            "picture \(picture.width)x\(picture.height) (\(reason)) url=\(ref.url)", now())
                        pictureLogged = true
                    }
                    present(.picture(picture))
                    shownText = nil
                    showing = true
                    expiresAt = nil
                case nil:
                    // Nothing usable came: whatever is on screen stays until its own expiry.
                    break
                }
                if showing {
                    if !wasShowing || codeGoneAt != nil {
                        codeGoneAt = nil
                        attemptsWithoutCode = 0
                    }
                } else {
                    attemptsWithoutCode += 1
                }
                let situation = PayCodeSchedule.Situation(
                    lastFetch: fetchedAt, recentFetches: recentFetches, showingCode: showing, expiresAt: expiresAt,
                    codeGoneAt: codeGoneAt, attemptsWithoutCode: attemptsWithoutCode, freshUntil: freshUntil)
                nextFetch = schedule.nextFetch(situation) ?? .infinity
            }
            // Wake for the next fetch, or when the code on screen expires, whichever is first.
            var wake = min(nextFetch, deadline.timeIntervalSince1970)
            if showing, let expiresAt { wake = min(wake, expiresAt) }
            let seen = changed.generation
            guard isCurrent() else { return }
            let wait = max(0, wake - now().timeIntervalSince1970)
            if wait > 0 { await changed.wait(after: seen, timeout: .milliseconds(Int64((wait * 1000).rounded(.up)))) }
            if showing, let expiry = expiresAt, now().timeIntervalSince1970 >= expiry {
                takeDownExpired()
                let situation = PayCodeSchedule.Situation(
                    lastFetch: lastFetchAt, recentFetches: recentFetches, showingCode: false, codeGoneAt: codeGoneAt,
                    attemptsWithoutCode: attemptsWithoutCode)
                nextFetch = min(nextFetch, schedule.nextFetch(situation) ?? .infinity)
            }
        }
    }

    /// Fetches `url`; when the code on screen expires (`expiresAt`) before the answer comes,
    /// `onExpiry` takes it down at once, so that a fetch waiting for its budget or a slow origin
    /// never leaves an expired code up.
    private func fetchWatchingExpiry(
        _ url: String, etag: String?, lastModified: String?, expiresAt: Double?, onExpiry: () -> Void
    ) async -> Result<QRImageFetch, any Error> {
        let fetcher = self.fetcher
        let now = self.now
        return await withTaskGroup(of: FetchStep.self) { group in
            group.addTask {
                do {
                    return .done(
                        .success(try await fetcher.fetchWithFreshness(url, etag: etag, lastModified: lastModified)))
                } catch {
                    return .done(.failure(error))
                }
            }
            if let expiresAt {
                group.addTask {
                    let left = expiresAt - now().timeIntervalSince1970
                    if left > 0 { try? await Task.sleep(for: .milliseconds(Int64((left * 1000).rounded(.up)))) }
                    return .codeExpired
                }
            }
            defer { group.cancelAll() }
            while let step = await group.next() {
                switch step {
                case .done(let result): return result
                case .codeExpired: if !Task.isCancelled { onExpiry() }
                }
            }
            return .failure(CancellationError())
        }
    }

    /// Logs a failed fetch once per distinct failure; returns what to compare the next one with.
    private func report(_ error: any Error, previous: String?, meta: Logger.Metadata) -> String {
        let text = "\(error)"
        if text != previous { logger.warning("cannot get the invoice's QR image: \(text)", metadata: meta) }
        return text
    }
}
