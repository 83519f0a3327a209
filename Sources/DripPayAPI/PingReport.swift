import KioskCore

/// What the daemon needs its token to do.
public let requiredAbilities: [Ability] = [.listInvoice, .viewInvoice, .createInvoice, .cancelInvoice]

/// Calls `/ping` and describes the outcome for a person: the token's abilities and any the
/// daemon needs but lacks. `ok` is true only when the API answered pong and nothing is missing.
/// Used by `drippay-kiosk ping` and the daemon's start-up check.
public func pingReport(client: DripPayClient) async -> (text: String, ok: Bool) {
    do {
        let pong = try await client.ping()
        var lines = ["API \(client.baseURL) answered '\(pong.message)'."]
        let labels = pong.abilityLabels.isEmpty ? "(none)" : pong.abilityLabels.joined(separator: ", ")
        lines.append("Token abilities: \(labels)")
        let unknown = pong.abilityLabels.filter { Ability(labelOrName: $0) == nil }
        if !unknown.isEmpty { lines.append("Abilities not used by the daemon: \(unknown.joined(separator: ", "))") }
        let missing = requiredAbilities.filter { !pong.abilities.contains($0) }
        if missing.isEmpty {
            lines.append("The token has every ability the daemon needs.")
        } else {
            lines.append(
                "MISSING abilities the daemon needs: \(missing.map(\.rawValue).joined(separator: ", ")). "
                    + "Create a token with them at /api-keys.")
        }
        return (lines.joined(separator: "\n"), pong.message == "pong" && missing.isEmpty)
    } catch let error as DripPayError {
        return ("\(error)", false)
    } catch {
        return ("GET /ping failed: \(error)", false)
    }
}
