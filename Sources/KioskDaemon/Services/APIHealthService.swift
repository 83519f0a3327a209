import DripPayAPI
import KioskCore
import ServiceLifecycle

/// The API's health after READY: `/ping` every `interval` in service, unless another request
/// answered with success within it (the token worked then: on a fleet that shares one budget the
/// health check is the first thing to give up); out of service after `outOfServiceInterval`,
/// doubling to `interval` while the API stays away, each pause jittered by half either way so
/// that a fleet does not come back in one herd; and at once when a request got no answer.
/// Checks are at least `outOfServiceInterval` apart, so a burst of failures costs one ping.
struct APIHealthService: Service, CustomStringConvertible {
    let client: DripPayClient
    let gate: ServiceGate
    /// Signalled by the transport when a request got no answer.
    let trouble: Pulse
    let interval: Duration
    let outOfServiceInterval: Duration
    let ready: Latch

    var description: String { "API health" }

    func run() async {
        await cancelWhenGracefulShutdown {
            guard await ready.wait() else { return }
            await check()
        }
    }

    private func check() async {
        var seen = trouble.generation
        var random = SystemRandomNumberGenerator()
        var failedChecks = 0
        while !Task.isCancelled {
            let pause =
                gate.isAvailable
                ? interval
                : Self.backOff(first: outOfServiceInterval, cap: interval)
                    .delay(afterFailures: failedChecks, jitter: 0.5, using: &random)
            await trouble.wait(after: seen, timeout: pause)
            if Task.isCancelled { return }
            let woken = trouble.generation != seen
            if !woken, gate.isAvailable, let last = client.lastSuccessfulAnswer, ContinuousClock.now - last < interval {
                continue  // another request proved the API and the token meanwhile
            }
            let problem = await Self.apiProblem(client: client)
            failedChecks = problem == nil ? 0 : failedChecks + 1
            gate.submit(.api(problem))
            // Read after the check, so the check's own failure does not wake the next one.
            seen = trouble.generation
            if woken {
                do { try await Task.sleep(for: outOfServiceInterval) } catch { return }
            }
        }
    }

    /// The pause before the next check after `failedChecks` failed ones in a row: `first`,
    /// doubling, at most `cap`.
    static func backOff(failedChecks: Int, first: Duration, cap: Duration) -> Duration {
        backOff(first: first, cap: cap).delay(afterFailures: failedChecks)
    }

    static func backOff(first: Duration, cap: Duration) -> Backoff {
        Backoff(initial: min(first, cap), maximum: cap)
    }

    /// The required abilities the `/ping` answer lacks, or the problem reaching it.
    static func apiProblem(client: DripPayClient) async -> ServiceProblem? {
        let ping = "\(client.baseURL)/ping"
        do {
            let pong = try await client.ping()
            let missing = requiredAbilities.filter { !pong.abilities.contains($0) }
            guard missing.isEmpty else {
                let names = missing.map(\.rawValue).joined(separator: ", ")
                return ServiceProblem(
                    reason: "token lacks abilities",
                    detail:
                        "token lacks abilities: \(names) (create a token with list-invoice, view-invoice, create-invoice, cancel-invoice)"
                )
            }
            return nil
        } catch DripPayError.notConnected(_, let failure) {
            return ServiceProblem(reason: "API unreachable", detail: "API unreachable (\(ping): \(failure))")
        } catch DripPayError.connectionFailed(_, let failure) {
            return ServiceProblem(reason: "API unreachable", detail: "API unreachable (\(ping): \(failure))")
        } catch DripPayError.timeout(_, let after) {
            return ServiceProblem(
                reason: "API unreachable", detail: "API unreachable (\(ping): no answer within \(after))")
        } catch DripPayError.server(_, let status) {
            return ServiceProblem(reason: "API unavailable", detail: "API unavailable (\(ping): HTTP \(status))")
        } catch DripPayError.rateLimited {
            return nil  // the API answered: it is up; the client's budget now pauses
        } catch DripPayError.unauthenticated {
            return ServiceProblem(
                reason: "API token refused",
                detail: "API token refused (\(ping): 401); check the token file or credential")
        } catch {
            return ServiceProblem(reason: "API check failed", detail: "API check failed (\(ping)): \(error)")
        }
    }
}
