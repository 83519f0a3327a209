import KioskCore

extension QibixxMDBCodec {
    // MARK: adapter -> board

    public mutating func decode(_ raw: String) -> [ControllerEvent] {
        denyUnnumbered()
        let line = AdapterLine(raw)
        guard line != .empty else { return [] }
        // Any line shows the adapter is alive; one after it went silent means it came back.
        let cameBack = liveness == .lost
        liveness = .answering
        let events = apply(line, raw: raw)
        // Set the adapter up again once it answers after going silent (nothing is open then).
        if cameBack, phase == .setUpNeeded { outgoing += beginSetup() }
        return events
    }

    /// Whether a vend request waits for its id (`handIn(vendID:)`).
    public var awaitsVendID: Bool {
        if case .numbering = phase { return true }
        return false
    }

    /// Names the vend request the last line made: the request is reported with `id`, or, when
    /// no id could be made (nil), denied at once with `C,VEND,-1`.
    public mutating func handIn(vendID: VendID?) -> [ControllerEvent] {
        guard case .numbering(let draft) = phase else { return [] }
        guard let id = vendID else {
            return deniedAtOnce(draft.raw, "no vend id could be reserved in the journal", draft.context)
        }
        phase = .vendRequested(
            OpenVend(id: id, amountText: draft.amountText, price: draft.price, context: draft.context))
        return [.vendRequested(VendRequest(id: id, product: draft.product, price: draft.price))]
    }

    /// A request left without an id (a caller that did not hand one in) is denied before
    /// anything else happens: the machine must not wait on a vend the daemon never heard of.
    mutating func denyUnnumbered() {
        if awaitsVendID { _ = handIn(vendID: nil) }
    }

    func ignored(_ raw: String, _ why: String) -> [ControllerEvent] {
        [.malformed(line: raw, reason: "\(why); nothing changes")]
    }

    mutating func apply(_ line: AdapterLine, raw: String) -> [ControllerEvent] {
        switch line {
        case .empty, .noise:
            return []
        case .notCashless:
            return [.malformed(line: raw, reason: "not a cashless-slave line (expected c,... or r,ACK)")]
        case .emptyCashless:
            return [.malformed(line: raw, reason: "empty cashless-slave line")]
        default:
            break
        }
        // Only the first c,... line after C,VEND,<amount> can be its answer.
        var answersApproval = false
        if case .vendApproved(let vend, answered: false) = phase {
            answersApproval = true
            phase = .vendApproved(vend, answered: true)
        }
        switch line {
        case .readerAnswer(let on):
            if on, adapterCheck == .unchecked || stateProbe {
                stateProbe = false
                return adapterRestarted(
                    reason: "the adapter restarted (it answered C,1 with c,1) before reporting the result")
            }
            return []
        case .setAnswer(let ok, let detail):
            return setAnswered(ok, detail: detail, raw: raw)
        case .status(let fields):
            return decodeStatus(fields, raw: raw)
        case .vendSuccess:
            guard case .vendApproved(let vend, _) = phase else {
                return [.malformed(line: raw, reason: "c,VEND,SUCCESS but no vend was approved; nothing changes")]
            }
            outgoing += afterVend(vend.context)
            return [.dispensed(vend.id)]
        case .unknownVend:
            return ignored(raw, "unknown c,VEND line")
        case .error(let detail):
            return decodeError(detail, raw: raw, answersApproval: answersApproval)
        case .unknownMessage(let name):
            return [.malformed(line: raw, reason: "unknown cashless-slave message '\(protocolText(name, limit: 32))'")]
        case .empty, .noise, .notCashless, .emptyCashless:
            return []
        }
    }

    mutating func decodeError(_ detail: String, raw: String, answersApproval: Bool = false) -> [ControllerEvent] {
        let text = detail.trimmingQuotes
        if case .settingUp(let step) = phase, text != "cashless is off" {
            phase = .setUpNeeded
            let parameter = parameters[min(step, parameters.count - 1)]
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
            if adapterCheck == .unchecked {
                adapterCheck = .known  // it kept its state (and its configuration) across the reopen
                return []
            }
            return ignored(raw, "the adapter says the reader is already on")
        case "cashless is off":
            return []  // answer to C,0 while already disabled
        case "VEND 3":
            guard case .vendApproved(let vend, _) = phase else {
                return ignored(raw, "c,ERR,VEND 3 with no approved vend")
            }
            outgoing += afterVend(vend.context)
            return [
                .dispenseFailed(vend.id, reason: "the machine reported the vend failed after approval (c,ERR,VEND 3)")
            ]
        case "VEND 1":
            switch phase {
            case .vendRequested(let vend):
                outgoing += afterVend(vend.context)
                return [.vendAborted(vend.id)]
            case .vendApproved:
                return ignored(raw, "c,ERR,VEND 1 after approval (the result is still awaited)")
            case .setUpNeeded, .settingUp, .idle, .numbering:
                return ignored(raw, "c,ERR,VEND 1 with no open vend")
            }
        case "VEND 5":
            return endOpenVend(
                reason: "the adapter was reset by the machine (c,ERR,VEND 5) before reporting the result")
        case "VEND -3":
            if case .vendApproved(let vend, _) = phase, answersApproval {
                outgoing += afterVend(vend.context)
                return [
                    .dispenseFailed(
                        vend.id,
                        reason:
                            "the adapter refused the approval C,VEND,\(vend.amountText) (c,ERR,\"VEND -3\"): nothing was credited"
                    )
                ]
            }
            return ignored(raw, "c,ERR,\(detail) not answering an approval")
        default:
            return ignored(raw, "the adapter reported c,ERR,\(detail)")
        }
    }

    mutating func decodeStatus(_ fields: [String], raw: String) -> [ControllerEvent] {
        guard let status = fields.first else { return [.malformed(line: raw, reason: "c,STATUS without a state")] }
        let wasReady = reported == .enabled || reported == .idle || reported == .vend
        switch status {
        case "INACTIVE":
            var events: [ControllerEvent] = []
            if adapterCheck == .unchecked {
                events += adapterRestarted(
                    reason: "the adapter restarted (it reported INACTIVE after C,1) before reporting the result")
            } else if isSetUp, reader == .on, reported != .unknown, reported != .inactive {
                // The adapter (or the machine) restarted behind a link that stayed open.
                events += adapterRestarted(
                    reason: "the adapter reported INACTIVE (restarted) before reporting the result")
            } else {
                events += endOpenVend(reason: "the adapter reported INACTIVE before reporting the result")
            }
            reported = .inactive
            sessionOpen = false
            events.append(.unavailable(reason: "the machine has not set up the cashless reader yet (MDB INACTIVE)"))
            return events
        case "DISABLED":
            readerSetUpByTheMachine()
            var events = endOpenVend(reason: "the machine disabled the reader before reporting the result")
            reported = .disabled
            sessionOpen = false
            events.append(.unavailable(reason: "the machine disabled the cashless reader (MDB DISABLED)"))
            return events
        case "ENABLED", "IDLE":
            readerSetUpByTheMachine()
            var events = endOpenVend(reason: "the machine ended the vend without reporting its result")
            reported = status == "ENABLED" ? .enabled : .idle
            sessionOpen = status == "IDLE"
            if status == "ENABLED" {
                if settings.sessionMode == .startSession, takesPayments, case .idle(.on) = phase {
                    outgoing.append("C,START,0")
                }
            }
            if !wasReady { events.append(.hello(name: Self.controllerName, version: status)) }
            return events
        case "VEND":
            return decodeVendRequest(fields, raw: raw)
        default:
            return [.malformed(line: raw, reason: "unknown adapter state '\(protocolText(status, limit: 32))'")]
        }
    }

    /// `c,STATUS,VEND,<amount>,<product>`: checked here, named by `handIn(vendID:)`.
    mutating func decodeVendRequest(_ fields: [String], raw: String) -> [ControllerEvent] {
        // What waited for the end of the old vend (a disable, the set-up) waits for the new one
        // too: never C,0 while the machine waits on a vend.
        var events: [ControllerEvent] = []
        let context: VendContext?
        switch phase {
        case .vendRequested(let vend), .vendApproved(let vend, _):
            events += abandonOpenVend(reason: "a new vend request came before the result of the approved one")
            context = vend.context
        case .idle(let reader):
            context = VendContext(reader: reader)
        case .setUpNeeded, .settingUp, .numbering:
            context = nil
        }
        reported = .vend
        guard let context else {
            // Amounts cannot be read with settings the adapter may not have.
            outgoing.append("C,VEND,-1")
            return events
                + [
                    .malformed(
                        line: raw,
                        reason: "the adapter is not set up (it restarted or refused a parameter); "
                            + "denied at once with C,VEND,-1")
                ]
        }
        guard fields.count == 3 else {
            return events + deniedAtOnce(raw, "a vend request is c,STATUS,VEND,<amount>,<product>", context)
        }
        let price: Money
        do {
            price = try QibixxAmount.price(fields[1], settings: settings, currency: currency)
        } catch {
            return events + deniedAtOnce(raw, "vend amount \(error.description)", context)
        }
        guard let product = ProductCode(fields[2]) else {
            return events
                + deniedAtOnce(
                    raw, "'\(protocolText(fields[2], limit: 32))' is not a product code (1-16 of A-Z a-z 0-9 _ -)",
                    context)
        }
        phase = .numbering(
            VendDraft(raw: raw, amountText: fields[1], price: price, product: product, context: context))
        return events
    }

    /// A vend request the daemon cannot serve: the machine hears `C,VEND,-1` now instead of
    /// waiting for its own timeout; then what waited for the end of a vend.
    mutating func deniedAtOnce(_ raw: String, _ reason: String, _ context: VendContext) -> [ControllerEvent] {
        outgoing.append("C,VEND,-1")
        outgoing += afterVend(context)
        return [.malformed(line: raw, reason: "\(reason); denied at once with C,VEND,-1")]
    }

    mutating func setAnswered(_ ok: Bool, detail: String, raw: String) -> [ControllerEvent] {
        guard case .settingUp(let step) = phase else {
            return ok ? [] : ignored(raw, "unknown c,SET answer")
        }
        guard ok else { return decodeError(detail, raw: raw) }
        guard step + 1 == parameters.count else {
            phase = .settingUp(step: step + 1)
            outgoing.append(setconf(step + 1))
            return []
        }
        outgoing += finishSetup()
        return [.setUpDone]
    }

    /// The adapter lost its state while the link stayed open (or across a reopen): the open
    /// vend is over, and the set-up runs again.
    mutating func adapterRestarted(reason: String) -> [ControllerEvent] {
        let events = abandonOpenVend(reason: reason)
        outgoing += beginSetup()
        return events
    }

    /// Ends the open vend because the machine or adapter moved on, then does what waited for
    /// its end.
    mutating func endOpenVend(reason: String) -> [ControllerEvent] {
        guard let vend = openVend else { return [] }
        let events = abandonOpenVend(reason: reason)
        outgoing += afterVend(vend.context)
        return events
    }

    /// What the end of the open vend means: before approval the machine gave up; after it the
    /// outcome is unknown (never a refund by itself). The phase is the caller's to set.
    func abandonOpenVend(reason: String) -> [ControllerEvent] {
        switch phase {
        case .vendRequested(let vend): [.vendAborted(vend.id)]
        case .vendApproved(let vend, _): [.dispenseUnknown(vend.id, reason: reason)]
        case .setUpNeeded, .settingUp, .idle, .numbering: []
        }
    }

    /// A vend ended: what waited for its end (the disable, or the set-up of an adapter not
    /// checked since a reopen), else back to idle.
    mutating func afterVend(_ context: VendContext) -> [String] {
        if context.disableAfter { return disableLines() }
        if adapterCheck == .unchecked { return beginSetup() }
        phase = .idle(context.reader)
        return []
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
