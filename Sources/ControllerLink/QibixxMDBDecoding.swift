import KioskCore

extension QibixxMDBCodec {
    // MARK: adapter -> board

    public mutating func decode(_ raw: String) -> [ControllerEvent] {
        let events = decodeLine(raw)
        if setUpAfterLine {
            // The adapter answered again after going silent: set it up, once nothing is open.
            setUpAfterLine = false
            if vend == nil, setup == .needed || setup == .failed { outgoing += beginSetup() }
        }
        return events
    }

    mutating func decodeLine(_ raw: String) -> [ControllerEvent] {
        let line = trimmed(raw)
        guard !line.isEmpty else { return [] }
        var events = noteLineSeen()
        let fields = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        switch fields[0] {
        case "r", "d", "D", "v", "x":
            return events  // VMC poll acks, the master role, the version answer, sniffer lines
        case "c":
            break
        default:
            return events + [.malformed(line: raw, reason: "not a cashless-slave line (expected c,... or r,ACK)")]
        }
        guard fields.count >= 2 else { return events + [.malformed(line: raw, reason: "empty cashless-slave line")] }
        // Only the first c,... line after C,VEND,<amount> can be its answer.
        let answersApproval = vend?.approvalUnanswered ?? false
        vend?.approvalUnanswered = false
        switch fields[1] {
        case "1", "0":
            if fields[1] == "1", setup == .reopenCheck || stateProbe {
                stateProbe = false
                events += adapterRestarted("it answered C,1 with c,1")
            }
            return events
        case "SET":
            return events
                + setAnswered(
                    fields.count >= 3 && fields[2] == "OK", detail: fields.dropFirst(2).joined(separator: ","), raw: raw
                )
        case "STATUS":
            return events + decodeStatus(Array(fields.dropFirst(2)), raw: raw)
        case "VEND":
            guard fields.count >= 3, fields[2] == "SUCCESS" else {
                return events + [.malformed(line: raw, reason: "unknown c,VEND line; nothing changes")]
            }
            guard let open = vend, open.approved else {
                return events + [
                    .malformed(line: raw, reason: "c,VEND,SUCCESS but no vend was approved; nothing changes")
                ]
            }
            events += [.dispensed(open.id)]
            endVend()
            return events
        case "ERR":
            return events
                + decodeError(fields.dropFirst(2).joined(separator: ","), raw: raw, answersApproval: answersApproval)
        default:
            return events + [
                .malformed(line: raw, reason: "unknown cashless-slave message '\(protocolText(fields[1], limit: 32))'")
            ]
        }
    }

    mutating func decodeError(_ detail: String, raw: String, answersApproval: Bool = false) -> [ControllerEvent] {
        let text = detail.trimmingQuotes
        func ignored(_ why: String) -> [ControllerEvent] { [.malformed(line: raw, reason: "\(why); nothing changes")] }
        if case .running(let index) = setup, text != "cashless is off" {
            setup = .failed
            let parameter = parameters[min(index, parameters.count - 1)]
            return [
                .setUpRefused(
                    reason: "the MDB adapter refused C,SETCONF,\(parameter.name)=\(parameter.value) (c,ERR,\(detail)); "
                        + "check \(QibixxSettings.configKey(forParameter: parameter.name)) in the config or profile; the reader stays disabled"
                )
            ]
        }
        switch text {
        case "cashless is on":
            if stateProbe {
                stateProbe = false
                return []  // the periodic state probe: still on, still set up
            }
            if setup == .reopenCheck {
                setup = .done  // the adapter kept its state (and its configuration) across the reopen
                return []
            }
            return ignored("the adapter says the reader is already on")
        case "cashless is off":
            return []  // answer to C,0 while already disabled
        case "VEND 3":
            guard let open = vend, open.approved else { return ignored("c,ERR,VEND 3 with no approved vend") }
            endVend()
            return [
                .dispenseFailed(open.id, reason: "the machine reported the vend failed after approval (c,ERR,VEND 3)")
            ]
        case "VEND 1":
            guard let open = vend else { return ignored("c,ERR,VEND 1 with no open vend") }
            guard !open.approved else {
                return ignored("c,ERR,VEND 1 after approval (the result is still awaited)")
            }
            endVend()
            return [.vendAborted(open.id)]
        case "VEND 5":
            return endOpenVend(
                reason: "the adapter was reset by the machine (c,ERR,VEND 5) before reporting the result")
        case "VEND -3":
            if let open = vend, open.approved, answersApproval {
                endVend()
                return [
                    .dispenseFailed(
                        open.id,
                        reason:
                            "the adapter refused the approval C,VEND,\(open.amountText) (c,ERR,\"VEND -3\"): nothing was credited"
                    )
                ]
            }
            return ignored("c,ERR,\(detail) not answering an approval")
        default:
            return ignored("the adapter reported c,ERR,\(detail)")
        }
    }

    mutating func decodeStatus(_ fields: [String], raw: String) -> [ControllerEvent] {
        func bad(_ reason: String) -> [ControllerEvent] { [.malformed(line: raw, reason: reason)] }
        guard let status = fields.first else { return bad("c,STATUS without a state") }
        let wasReady = state == .enabled || state == .idle || state == .vend
        switch status {
        case "INACTIVE", "DISABLED":
            var events: [ControllerEvent] = []
            if status == "INACTIVE" {
                if setup == .reopenCheck {
                    events += adapterRestarted("it reported INACTIVE after C,1")
                } else if setup == .done, boardEnabled, !expectingInactive, state != .unknown, state != .inactive {
                    // The adapter (or the machine) restarted behind a link that stayed open.
                    setup = .needed
                    deferredDisable = false
                    events += endOpenVend(
                        reason: "the adapter reported INACTIVE (restarted) before reporting the result")
                    outgoing += beginSetup()
                } else {
                    events += endOpenVend(reason: "the adapter reported INACTIVE before reporting the result")
                }
            } else {
                expectingInactive = false
                events += endOpenVend(reason: "the machine disabled the reader before reporting the result")
            }
            state = status == "INACTIVE" ? .inactive : .disabled
            sessionOpen = false
            events.append(
                .unavailable(
                    reason: status == "INACTIVE"
                        ? "the machine has not set up the cashless reader yet (MDB INACTIVE)"
                        : "the machine disabled the cashless reader (MDB DISABLED)"))
            return events
        case "ENABLED", "IDLE":
            expectingInactive = false
            var events = endOpenVend(reason: "the machine ended the vend without reporting its result")
            state = status == "ENABLED" ? .enabled : .idle
            if status == "IDLE" {
                sessionOpen = true
            } else {
                sessionOpen = false
                if settings.sessionMode == .startSession, setup == .done, wantEnabled, boardEnabled, vend == nil {
                    outgoing.append("C,START,0")
                }
            }
            if !wasReady { events.append(.hello(name: Self.controllerName, version: status)) }
            return events
        case "VEND":
            // What waited for the end of the old vend (a disable) waits for the new one too:
            // never C,0 while the machine waits on a vend.
            var events = endOpenVend(
                reason: "a new vend request came before the result of the approved one", runDeferred: false)
            state = .vend
            guard setup == .done || setup == .reopenCheck else {
                // Amounts cannot be read with settings the adapter may not have.
                return events + deniedAtOnce(raw, "the adapter is not set up (it restarted or refused a parameter)")
            }
            guard fields.count == 3 else {
                return events + deniedAtOnce(raw, "a vend request is c,STATUS,VEND,<amount>,<product>")
            }
            let price: Money
            do {
                price = try QibixxAmount.price(fields[1], settings: settings, currency: currency)
            } catch {
                return events + deniedAtOnce(raw, "vend amount \(error.description)")
            }
            guard let product = ProductCode(fields[2]) else {
                return events
                    + deniedAtOnce(
                        raw, "'\(protocolText(fields[2], limit: 32))' is not a product code (1-16 of A-Z a-z 0-9 _ -)")
            }
            guard let id = makeVendID() else {
                return events + deniedAtOnce(raw, "no vend id could be reserved in the journal")
            }
            vend = OpenVend(id: id, amountText: fields[1], price: price)
            events.append(.vendRequested(VendRequest(id: id, product: product, price: price)))
            return events
        default:
            return bad("unknown adapter state '\(protocolText(status, limit: 32))'")
        }
    }

    /// A vend request the daemon cannot serve: the machine hears `C,VEND,-1` now instead of
    /// waiting for its own timeout.
    mutating func deniedAtOnce(_ raw: String, _ reason: String) -> [ControllerEvent] {
        outgoing.append("C,VEND,-1")
        outgoing += afterVend()
        return [.malformed(line: raw, reason: "\(reason); denied at once with C,VEND,-1")]
    }

    mutating func setAnswered(_ ok: Bool, detail: String, raw: String) -> [ControllerEvent] {
        guard case .running(let index) = setup else {
            return ok ? [] : [.malformed(line: raw, reason: "unknown c,SET answer; nothing changes")]
        }
        guard ok else { return decodeError(detail, raw: raw) }
        if index + 1 < parameters.count {
            setup = .running(index: index + 1)
            outgoing.append(setconf(index + 1))
        } else {
            outgoing += finishSetup()
            return [.setUpDone]
        }
        return []
    }

    /// The adapter lost its state while the link stayed open (or across a reopen): the open
    /// vend is over, and the set-up runs again.
    mutating func adapterRestarted(_ how: String) -> [ControllerEvent] {
        setup = .needed  // first: the end of the vend must not start a second set-up
        deferredDisable = false
        let events = endOpenVend(reason: "the adapter restarted (\(how)) before reporting the result")
        outgoing += beginSetup()
        return events
    }

    /// Ends the open vend because the machine or adapter moved on: before approval the machine
    /// gave up; after it the outcome is unknown (never a refund by itself).
    mutating func endOpenVend(reason: String, runDeferred: Bool = true) -> [ControllerEvent] {
        guard let open = vend else { return [] }
        if runDeferred { endVend() } else { vend = nil }
        return open.approved ? [.dispenseUnknown(open.id, reason: reason)] : [.vendAborted(open.id)]
    }

    mutating func endVend() {
        vend = nil
        outgoing += afterVend()
    }

    /// What waited for the end of a vend: the disable, or the set-up.
    mutating func afterVend() -> [String] {
        if deferredDisable {
            deferredDisable = false
            return disableLines()
        }
        if setup == .reopenCheck {
            setup = .needed
            return beginSetup()
        }
        return []
    }

    /// Any line shows the adapter is alive; one after it went silent means it came back.
    mutating func noteLineSeen() -> [ControllerEvent] {
        probeOutstanding = false
        guard adapterLost else { return [] }
        adapterLost = false
        setUpAfterLine = true
        return []
    }

    func trimmed(_ line: String) -> String {
        var bytes = Substring(line)
        while let last = bytes.last, last == " " || last == "\t" || last == "\r" { bytes.removeLast() }
        return String(bytes)
    }
}

extension String {
    fileprivate var trimmingQuotes: String {
        var text = Substring(self)
        while text.first == "\"" || text.first == " " { text.removeFirst() }
        while text.last == "\"" || text.last == " " { text.removeLast() }
        return String(text)
    }
}
