import KioskCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The browser pay page and the `/_sandbox/` admin endpoints.
extension SandboxState {
    // MARK: Pay page and admin

    mutating func payPage(reference: String, now: Date) -> SandboxResponse {
        func page(_ status: Int, _ title: String, _ text: String) -> SandboxResponse {
            .html(
                status,
                "<!doctype html><html><head><meta charset=\"utf-8\"><title>\(title)</title></head>"
                    + "<body><h1>\(title)</h1><p>\(text)</p></body></html>")
        }
        guard let i = byReference[reference.lowercased()] else {
            return page(404, "Unknown invoice", "The sandbox has no invoice \(reference).")
        }
        let before = invoices[i].status
        switch pay(index: i, at: now) {
        case .paid where before == .pending:
            return page(
                200, "Paid",
                "Invoice \(reference) (\(Self.decimal(invoices[i].totalCents, places: 2)) \(invoices[i].currency)) is now paid."
            )
        case .paid: return page(200, "Already paid", "Invoice \(reference) was already paid.")
        default: return page(410, "Cancelled", "Invoice \(reference) was cancelled and cannot be paid.")
        }
    }

    mutating func admin(_ request: SandboxRequest, path: String, now: Date) -> SandboxResponse {
        let q = request.query
        let count = Int(q["count"] ?? "") ?? 1
        switch (request.method, path) {
        case ("GET", "invoices"):
            return .json(
                200,
                .array(
                    invoices.map {
                        .object([
                            ("reference", .string($0.reference)), ("trade_no", .string($0.tradeNo)),
                            ("status", .string($0.status.rawValue)), ("deleted", .bool($0.deleted)),
                        ])
                    }))
        case ("GET", "requests"):
            return .json(200, .array(requests.suffix(1000).map { .string($0.description) }))
        case ("POST", let p) where p.hasPrefix("invoices/") && p.hasSuffix("/pay"):
            let reference = String(p.dropFirst(9).dropLast(4))
            guard let status = pay(reference: reference, now: now) else { return .message(404, "No such invoice.") }
            return .message(200, "Invoice is \(status.rawValue).")
        case ("POST", "wallet/pay"):
            return walletResponse(walletPay(scanned: String(decoding: request.body, as: UTF8.self), now: now))
        case ("POST", "faults/server-errors"):
            faults.serverErrors = count
            faults.serverErrorStatus = Int(q["status"] ?? "") ?? 500
            return .message(200, "The next \(count) API requests fail with \(faults.serverErrorStatus).")
        case ("POST", "faults/garbage"):
            faults.garbage = count
            return .message(200, "The next \(count) API requests answer garbage.")
        case ("POST", "faults/rate-limit"):
            faults.rateLimitStorm = count
            faults.rateLimitRetryAfter = Int(q["retry_after"] ?? "") ?? 1
            return .message(200, "The next \(count) API requests answer 429.")
        case ("POST", "faults/latency"):
            let ms = Int(q["ms"] ?? "") ?? 0
            faults.latency = ms > 0 ? .milliseconds(ms) : nil
            return .message(200, "Latency \(ms) ms.")
        case ("POST", "faults/create-latency"):
            let ms = Int(q["ms"] ?? "") ?? 0
            faults.createLatency = ms > 0 ? .milliseconds(ms) : nil
            return .message(200, "Create latency \(ms) ms.")
        case ("POST", "list-order"):
            listOldestFirst = q["order"] == "oldest-first"
            return .message(200, listOldestFirst ? "Lists oldest first." : "Lists newest first.")
        case ("POST", "faults/status-word"):
            let word = q["word"].flatMap { $0.isEmpty ? nil : $0 }
            faults.statusWord = word
            return .message(200, word.map { "Pending invoices read '\($0)' and refuse a cancel." } ?? "Real statuses.")
        case ("POST", "faults/other-invoices"):
            let machine = q["machine_id"] ?? "OTHER-MACHINE"
            let added = addInvoices(count: count, machineID: machine, now: now)
            if q["malformed"] == "1" { faults.malformedReferences.formUnion(added) }
            return .message(200, "Added \(added.count) invoices of \(machine).")
        case ("POST", "faults/deletes-between-pages"):
            faults.deletesPerListRead = count
            faults.deleteSparing = q["sparing"] ?? ""
            return .message(200, "Each list read cancels \(count) newer invoices of other machines.")
        case ("POST", "faults/soft-delete-payable"):
            faults.softDeletedStillPayable = q["on"] != "0"
            return .message(200, faults.softDeletedStillPayable ? "Cancelled invoices stay payable." : "Off.")
        case ("POST", "faults/malformed-next-create"):
            faults.createFaults.append(.malformedAfterCommit)
            return .message(200, "The next create answers a malformed invoice.")
        case ("POST", "faults/redirect"):
            faults.redirects = count
            return .message(200, "The next \(count) API requests answer 301.")
        case ("POST", "faults/drop-next-create"):
            faults.createFaults.append(q["commit"] == "0" ? .dropBeforeCommit : .dropAfterCommit)
            return .message(200, "The next create is dropped.")
        case ("POST", "auto-pay"):
            let ms = Int(q["after_ms"] ?? "")
            autoPayAfter = ms.map { .milliseconds($0) }
            return .message(200, ms.map { "New invoices are paid after \($0) ms." } ?? "Auto-pay off.")
        default:
            return .message(404, "Unknown sandbox admin endpoint \(request.method) /_sandbox/\(path).")
        }
    }
}
