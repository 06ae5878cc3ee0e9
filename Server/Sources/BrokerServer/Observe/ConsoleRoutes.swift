@_spi(BrokerServer) import Broker
import Foundation

/// The web console and the small endpoints only it needs:
///
/// - `GET /_broker/console` (and its `app.js` and `style.css`): the page, compiled into the binary.
/// - `GET /_broker/events`: the live feed of counts (``ConsoleEvents``).
/// - `POST /_broker/queues/{account}/{name}/send`, `…/purge`, `…/redrive`: send a message, purge, start a message
///   move task out of a dead-letter queue; `GET …/redrive`: that queue's recent move tasks. A JSON body names the
///   region (default the server's) and, for `send`, the message.
///
/// The actions change state without an AWS signature, so they ask more than the API's cross-site rules, which
/// ``WireService`` has already applied: a JSON content type, which a form or an image cannot send and a script of
/// another origin cannot send without a preflight this server never grants, and an `Origin`, when there is one,
/// that names this very server (not merely another port of loopback).
struct ConsoleRoutes: Sendable {
    let broker: Broker
    let events: ConsoleEvents?

    /// Queue actions the console posts.
    static let actions: Set<Substring> = ["send", "purge", "redrive"]

    /// The answer for a console path; nil for any other request.
    func response(to request: WireRequest) -> WireResponse? {
        let path = request.path
        switch path {
        case "/_broker/console", "/_broker/console/":
            return asset(request, ConsoleAssets.html, type: "text/html; charset=utf-8")
        case "/_broker/console/app.js":
            return asset(request, ConsoleAssets.script, type: "text/javascript; charset=utf-8")
        case "/_broker/console/style.css":
            return asset(request, ConsoleAssets.style, type: "text/css; charset=utf-8")
        case "/_broker/events":
            guard request.method == "GET" else { return BrokerRoutes.json(status: 405, Self.error("Use GET."), allow: "GET") }
            guard let events, let reservation = events.reserve() else {
                return BrokerRoutes.json(status: 503, Self.error("Too many event streams are open; retry shortly."))
            }
            return WireResponse(status: 200, headers: [("Content-Type", "text/event-stream"), ("Cache-Control", "no-store"),
                                                       ("X-Content-Type-Options", "nosniff")],
                                body: [], stream: reservation)
        default:
            break
        }
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        // "", "_broker", "queues", account, name, action
        guard parts.count == 6, parts[1] == "_broker", parts[2] == "queues", Self.actions.contains(parts[5]) else {
            return nil
        }
        if parts[5] == "redrive", request.method == "GET" {
            return tasks(account: String(parts[3]), name: String(parts[4]), region: Self.region(in: request.queryString))
        }
        guard request.method == "POST" else {
            return BrokerRoutes.json(status: 405, Self.error("Use POST."), allow: parts[5] == "redrive" ? "GET, POST" : "POST")
        }
        if let refusal = Self.refusal(of: request) { return refusal }
        let document: JSONValue
        do {
            document = request.body.readableBytes == 0 ? .object([]) : try JSONParser.parse(Array(request.body.readableBytesView))
        } catch {
            return BrokerRoutes.json(status: 400, Self.error("The body is not valid JSON."))
        }
        guard case .object = document else { return BrokerRoutes.json(status: 400, Self.error("The body must be a JSON object.")) }
        let region = Self.string(document["region"]) ?? broker.configuration.region
        let account = String(parts[3]), name = String(parts[4])
        guard let scoped = try? broker.scoped(accountId: account, region: region),
              let queue = try? scoped.queue(named: name) else {
            return BrokerRoutes.json(status: 404, Self.error("No queue \(name) in account \(account), region \(region)."))
        }
        do {
            switch parts[5] {
            case "send":
                guard let body = Self.string(document["body"]) else {
                    return BrokerRoutes.json(status: 400, Self.error("body must be a string."))
                }
                var delay: Duration?
                if let value = document["delaySeconds"] {
                    guard case .number(let number) = value, let seconds = Int(number.text) else {
                        return BrokerRoutes.json(status: 400, Self.error("delaySeconds must be a whole number."))
                    }
                    delay = .seconds(seconds)
                }
                let result = try queue.sendMessage(body, delaySeconds: delay, messageGroupId: Self.string(document["messageGroupId"]),
                                                   messageDeduplicationId: Self.string(document["messageDeduplicationId"]))
                return BrokerRoutes.json(status: 200, .object([("messageId", .string(result.messageId))]))
            case "purge":
                try queue.purge()
                return BrokerRoutes.json(status: 200, .object([("status", .string("purged"))]))
            default:
                // A task's steps hold the broker that started it weakly, and an account's view made for this request
                // would be gone when it returns, its task stalled: tasks start on a view kept as long as the server.
                let starter = events?.keep(scoped) ?? scoped
                let handle = try starter.startMessageMoveTask(sourceArn: queue.arn)
                return BrokerRoutes.json(status: 200, .object([("taskHandle", .string(handle))]))
            }
        } catch {
            return BrokerRoutes.json(status: error.code.httpStatus,
                                     .object([("error", .string(error.message)), ("code", .string(error.code.queryCode))]))
        }
    }

    /// A dead-letter queue's recent move tasks, newest first.
    private func tasks(account: String, name: String, region: String?) -> WireResponse {
        let region = region ?? broker.configuration.region
        guard let scoped = try? broker.scoped(accountId: account, region: region),
              let queue = try? scoped.queue(named: name) else {
            return BrokerRoutes.json(status: 404, Self.error("No queue \(name) in account \(account), region \(region)."))
        }
        let tasks = (try? scoped.listMessageMoveTasks(sourceArn: queue.arn, maxResults: 10)) ?? []
        return BrokerRoutes.json(status: 200, .object([("tasks", .array(tasks.map { task in
            .object([
                ("status", .string(task.status.rawValue)),
                ("moved", .number(JSONNumber(task.approximateNumberOfMessagesMoved))),
                ("toMove", .number(JSONNumber(task.approximateNumberOfMessagesToMove))),
                ("destinationArn", task.destinationArn.map(JSONValue.string) ?? .null),
                ("failureReason", task.failureReason.map(JSONValue.string) ?? .null),
            ])
        }))]))
    }

    /// Why an action may not run: it must be a JSON request, and any `Origin` must be this server itself.
    static func refusal(of request: WireRequest) -> WireResponse? {
        let type = request.header("content-type")?.lowercased() ?? ""
        guard type.hasPrefix("application/json") else {
            return BrokerRoutes.json(status: 415, error("Console actions take Content-Type: application/json."))
        }
        if let site = request.header("sec-fetch-site")?.lowercased(), site == "cross-site" || site == "same-site" {
            return BrokerRoutes.json(status: 403, error("Console actions are refused from another site."))
        }
        if let origin = request.header("origin") {
            let host = request.header("host") ?? request.defaultHost
            guard origin.lowercased() == "http://\(host.lowercased())" else {
                return BrokerRoutes.json(status: 403, error("Console actions are refused from another origin (\(origin))."))
            }
        }
        return nil
    }

    private func asset(_ request: WireRequest, _ text: String, type: String) -> WireResponse {
        guard request.method == "GET" else { return BrokerRoutes.json(status: 405, Self.error("Use GET."), allow: "GET") }
        return WireResponse(status: 200, headers: [
            ("Content-Type", type), ("Cache-Control", "no-store"), ("X-Content-Type-Options", "nosniff"),
            // Everything from this server only, and never inside another site's frame (a confirmation could be
            // clicked through one).
            ("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"),
            ("X-Frame-Options", "DENY"), ("Referrer-Policy", "no-referrer"),
        ], body: Array(text.utf8))
    }

    private static func region(in query: Substring?) -> String? {
        for pair in (query ?? "").split(separator: "&") where pair.hasPrefix("region=") {
            return String(pair.dropFirst("region=".count)).removingPercentEncoding
        }
        return nil
    }

    private static func string(_ value: JSONValue?) -> String? {
        if case .string(let text) = value { return text }
        return nil
    }

    private static func error(_ message: String) -> JSONValue { .object([("error", .string(message))]) }
}

extension BrokerRoutes {
    /// Queues one `counts` event lists at most; past it the event says `truncated`, so a broker of many thousands
    /// of queues costs each tick a bounded answer.
    static let maximumConsoleQueues = 500

    /// The `data` of one `counts` event: the broker's time and every queue's depths, on one line.
    func consoleSnapshot() -> [UInt8] {
        let queues = queues(baseURL: "")
        return JSONValue.object([
            ("time", .number(JSONNumber(Int((broker.clock.now.timeIntervalSince1970 * 1000).rounded(.down))))),
            ("queues", .array(Array(queues.prefix(Self.maximumConsoleQueues)))),
            ("truncated", .bool(queues.count > Self.maximumConsoleQueues)),
        ]).jsonBytes
    }
}
