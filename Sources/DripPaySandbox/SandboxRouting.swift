import KioskCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Requests: authentication, rate limits, and each route but create.
extension SandboxState {
    // MARK: Requests

    mutating func handle(_ request: SandboxRequest, monotonic: Duration, now: Date) -> SandboxOutcome {
        settleAutoPay(now: now)
        let outcome = route(request, monotonic: monotonic, now: now)
        switch outcome {
        case .respond(let r): record(request, status: r.status)
        case .drop: record(request, status: nil)
        }
        return outcome
    }

    mutating func route(_ request: SandboxRequest, monotonic: Duration, now: Date) -> SandboxOutcome {
        let path =
            request.path.hasSuffix("/") && request.path.count > 1 ? String(request.path.dropLast()) : request.path
        if path.hasPrefix("/pay/") { return .respond(payPage(reference: String(path.dropFirst(5)), now: now)) }
        if path.hasPrefix("/qr_codes/"), request.method == "GET" {
            return .respond(qrImage(request: request, name: String(path.dropFirst(10)), now: now))
        }
        if path.hasPrefix("/_sandbox/") { return .respond(admin(request, path: String(path.dropFirst(10)), now: now)) }
        guard path.hasPrefix("/api/v1/") else {
            return .respond(.message(404, "The route \(path.dropFirst()) could not be found."))
        }
        let segments = path.dropFirst(8).split(separator: "/").map(String.init)

        // Faults that strike before the application runs.
        if faults.garbage > 0 {
            faults.garbage -= 1
            return .respond(
                SandboxResponse(
                    status: 200, headers: [("Content-Type", "application/json")],
                    body: Array("<html>502 Bad Gateway</html>{\"stat".utf8)))
        }
        if faults.redirects > 0 {
            faults.redirects -= 1
            return .respond(
                .message(
                    301, "Moved Permanently",
                    headers: [("Location", "\(origin)/api/v2/\(segments.joined(separator: "/"))")]))
        }
        if faults.serverErrors > 0 {
            faults.serverErrors -= 1
            return .respond(.message(faults.serverErrorStatus, "Server Error"))
        }

        // auth:sanctum
        let auth = request.header("Authorization") ?? ""
        guard auth.hasPrefix("Bearer "), let abilities = tokens[String(auth.dropFirst(7))] else {
            return .respond(.message(401, "Unauthenticated."))
        }
        let token = String(auth.dropFirst(7))

        // Route table: (ability, handler); nil ability = any token.
        enum Route { case ping, list, create, show(String), status(String), cancel(String) }
        let route: Route
        let allowed: [String]
        switch segments.count {
        case 1 where segments[0] == "ping":
            allowed = ["GET", "HEAD"]
            route = .ping
        case 1 where segments[0] == "invoices":
            allowed = ["GET", "HEAD", "POST"]
            route = request.method == "POST" ? .create : .list
        case 2 where segments[0] == "invoices":
            allowed = ["GET", "HEAD", "DELETE"]
            route = request.method == "DELETE" ? .cancel(segments[1]) : .show(segments[1])
        case 3 where segments[0] == "invoices" && segments[2] == "status":
            allowed = ["GET", "HEAD"]
            route = .status(segments[1])
        default:
            return .respond(.message(404, "The route \(path.dropFirst()) could not be found."))
        }
        guard allowed.contains(request.method) else {
            return .respond(
                .message(
                    405,
                    "The \(request.method) method is not supported for route \(path.dropFirst()). "
                        + "Supported methods: \(allowed.joined(separator: ", ")).")
            )
        }

        // throttle: a fixed window per token, 600/min for the status poll, 60/min for the rest.
        let isStatus: Bool
        if case .status = route { isStatus = true } else { isStatus = false }
        if faults.rateLimitStorm > 0 {
            faults.rateLimitStorm -= 1
            let limit = isStatus ? statusRequestsPerMinute : requestsPerMinute
            return .respond(
                .message(
                    429, "Too Many Attempts.",
                    headers: [
                        ("Retry-After", "\(faults.rateLimitRetryAfter)"), ("X-RateLimit-Limit", "\(limit)"),
                        ("X-RateLimit-Remaining", "0"),
                    ]))
        }
        let (throttled, rateHeaders) = hit(
            key: token + (isStatus ? "|status" : "|api"),
            limit: isStatus ? statusRequestsPerMinute : requestsPerMinute, monotonic: monotonic)
        if throttled { return .respond(.message(429, "Too Many Attempts.", headers: rateHeaders)) }

        var outcome: SandboxOutcome
        func need(_ ability: Ability) -> Bool { abilities.contains(ability) }
        let forbidden = SandboxResponse.message(403, "Invalid ability provided.")
        switch route {
        case .ping:
            let labels = Ability.allCases.filter(need).map { JSON.string($0.label) }
            outcome = .respond(.json(200, .object([("message", .string("pong")), ("abilities", .array(labels))])))
        case .list:
            outcome = .respond(need(.listInvoice) ? list(request) : forbidden)
            if need(.listInvoice) { deleteBetweenPageReads(now: now) }
        case .create:
            outcome = need(.createInvoice) ? create(request, now: now) : .respond(forbidden)
        case .show(let reference):
            outcome = .respond(need(.viewInvoice) ? show(reference) : forbidden)
        case .status(let reference):
            outcome = .respond(need(.viewInvoice) ? status(reference) : forbidden)
        case .cancel(let reference):
            outcome = .respond(need(.cancelInvoice) ? cancel(reference, now: now) : forbidden)
        }
        if case .respond(var r) = outcome {
            r.headers += rateHeaders
            outcome = .respond(r)
        }
        return outcome
    }

    /// Laravel's fixed-window throttle: the window opens at its first hit and lasts `throttleWindow`.
    mutating func hit(key: String, limit: Int, monotonic: Duration) -> (Bool, [(String, String)]) {
        var w = windows[key] ?? (start: monotonic, count: 0)
        if monotonic >= w.start + throttleWindow { w = (start: monotonic, count: 0) }
        if w.count >= limit {
            windows[key] = w
            let left = (w.start + throttleWindow) - monotonic
            let seconds = max(1, Int((left + .nanoseconds(999_999_999)).components.seconds))
            return (
                true,
                [("Retry-After", "\(seconds)"), ("X-RateLimit-Limit", "\(limit)"), ("X-RateLimit-Remaining", "0")]
            )
        }
        w.count += 1
        windows[key] = w
        return (false, [("X-RateLimit-Limit", "\(limit)"), ("X-RateLimit-Remaining", "\(limit - w.count)")])
    }

    func visibleIndex(_ reference: String) -> Int? {
        guard let i = byReference[reference.lowercased()] else { return nil }
        return invoices[i].deleted && !cancelledInvoicesVisible ? nil : i
    }

    func notFound(_ reference: String) -> SandboxResponse {
        .message(404, "No query results for model [App\\Models\\Invoice] \(reference)")
    }

    func show(_ reference: String) -> SandboxResponse {
        guard let i = visibleIndex(reference) else { return notFound(reference) }
        return .json(200, .object([("data", invoiceJSON(invoices[i]))]))
    }

    /// The status word an invoice reads as: its own, or the `statusWord` fault while pending.
    func statusWord(_ invoice: SandboxInvoice) -> String {
        if invoice.status == .pending, let word = faults.statusWord { return word }
        return invoice.status.rawValue
    }

    func status(_ reference: String) -> SandboxResponse {
        guard let i = visibleIndex(reference) else { return notFound(reference) }
        return .json(200, .object([("status", .string(statusWord(invoices[i])))]))
    }

    mutating func cancel(_ reference: String, now: Date) -> SandboxResponse {
        guard let i = visibleIndex(reference) else { return notFound(reference) }
        guard invoices[i].status == .pending, faults.statusWord == nil else {
            return .message(422, "Only pending invoices can be cancelled.")
        }
        invoices[i].deleted = true
        invoices[i].updatedAt = now
        // Still payable after the soft delete: the status stays pending underneath.
        if !faults.softDeletedStillPayable { invoices[i].status = .cancelled }
        return .message(200, "Invoice cancelled successfully.")
    }

    /// The `deletesPerListRead` fault: cancels the newest live invoices of other machines.
    mutating func deleteBetweenPageReads(now: Date) {
        guard faults.deletesPerListRead > 0 else { return }
        var left = faults.deletesPerListRead
        for i in invoices.indices.reversed() where left > 0 {
            guard !invoices[i].deleted, invoices[i].status == .pending, invoices[i].machineID != faults.deleteSparing,
                faults.deleteOnly.map({ invoices[i].machineID == $0 }) ?? true
            else { continue }
            invoices[i].status = .cancelled
            invoices[i].deleted = true
            invoices[i].updatedAt = now
            left -= 1
        }
    }

    func list(_ request: SandboxRequest) -> SandboxResponse {
        let page = max(1, Int(request.query["page"] ?? "") ?? 1)
        var perPage = Int(request.query["per_page"] ?? "") ?? 15
        if perPage < 1 { perPage = 15 }
        perPage = min(perPage, 100)
        // Newest first, like Eloquent's latest(): by creation, ties by insertion order (or oldest
        // first when asked: the API document promises no order).
        let ordered: [SandboxInvoice] = listOldestFirst ? invoices : invoices.reversed()
        let visible = ordered.filter { !$0.deleted || cancelledInvoicesVisible }
        let total = visible.count
        let lastPage = max(1, (total + perPage - 1) / perPage)
        let start = (page - 1) * perPage
        let slice = start < total ? Array(visible[start..<min(total, start + perPage)]) : []
        let url = { (p: Int) in JSON.string("\(origin)/api/v1/invoices?page=\(p)") }
        return .json(
            200,
            .object([
                (
                    "data",
                    .array(
                        slice.map {
                            faults.malformedReferences.contains($0.reference)
                                ? malformedInvoiceJSON($0) : invoiceJSON($0)
                        })
                ),
                (
                    "links",
                    .object([
                        ("first", url(1)), ("last", url(lastPage)), ("prev", page > 1 ? url(page - 1) : .null),
                        ("next", page < lastPage ? url(page + 1) : .null),
                    ])
                ),
                (
                    "meta",
                    .object([
                        ("current_page", .number("\(page)")),
                        ("from", slice.isEmpty ? .null : .number("\(start + 1)")),
                        ("last_page", .number("\(lastPage)")),
                        ("path", .string("\(origin)/api/v1/invoices")),
                        ("per_page", .number("\(perPage)")),
                        ("to", slice.isEmpty ? .null : .number("\(start + slice.count)")),
                        ("total", .number("\(total)")),
                    ])
                ),
            ]))
    }
}
