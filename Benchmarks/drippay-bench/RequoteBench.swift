import KioskTestSupport
import PayCodes

/// `drippay-bench requote`: a pay screen held open while the provider re-quotes (Strike's timing:
/// a new request every 30 s, each payable 30 s), the schedule before re-quote planning beside
/// `PayCodeSchedule`, in simulated time (`RequoteSimulation`): image fetches per minute, the most
/// in any 61 s window against the budget of 12, and per 100 s of the vend the seconds with no
/// payable code on screen and with an expired one.
func runRequoteBenchmarks() {
    let schedule = PayCodeSchedule(refreshSeconds: 10)
    print("requote: quotes every 30 s, each payable 30 s; refresh_s 10; budget \(schedule.budget) per 61 s")
    print("  vend    latency  schedule  fetches/min  most in 61 s  s without code /100 s  s expired shown /100 s")
    for duration in [100.0, 300.0] {
        for latency in [0.05, 0.3, 1.5] {
            for legacy in [true, false] {
                let run = RequoteSimulation(
                    period: 30, lifetime: 30, latency: latency, schedule: schedule, legacy: legacy
                ).run(duration: duration)
                let perMinute = Double(run.fetches.count) * 60 / duration
                print(
                    "  \(pad(Int(duration), 4)) s  \(pad(latency, 5)) s  \(legacy ? "before" : "planned")   "
                        + "\(pad(perMinute, 11))  \(pad(run.mostInWindow, 12))  "
                        + "\(pad(run.secondsWithoutCode * 100 / duration, 21))  "
                        + "\(pad(run.secondsExpiredShown * 100 / duration, 22))")
            }
        }
    }
}

private func pad(_ value: Int, _ width: Int) -> String {
    let text = String(value)
    return String(repeating: " ", count: max(0, width - text.count)) + text
}

private func pad(_ value: Double, _ width: Int) -> String {
    let hundredths = Int((value * 100).rounded())
    let text = "\(hundredths / 100).\(hundredths % 100 < 10 ? "0" : "")\(hundredths % 100)"
    return String(repeating: " ", count: max(0, width - text.count)) + text
}
