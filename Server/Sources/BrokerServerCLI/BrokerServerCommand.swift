import Broker
import BrokerDemoPipeline
import BrokerServer
import Dispatch
import Foundation
import Logging

/// `broker-server`: a Broker on the system clock, served over SQS's and SNS's wire protocols until SIGINT or SIGTERM.
@main
struct BrokerServerCommand {
    static let usage = """
        usage: broker-server [--port N] [--host ADDRESS] [--config FILE] [--region REGION] [--account-id ID]
                             [--allow-host NAME]... [--allow-unsigned] [--signing-key FILE --signing-cert FILE]
                             [--log-level LEVEL] [--demo]
          --port N          port to listen on (0-65535, default 4566; 0 picks a free port)
          --host ADDRESS    address to listen on (default 127.0.0.1)
          --config FILE     JSON file of queues, topics and subscriptions to create (see Server/README.md)
          --region REGION   default region (default: the config file's, else us-east-1)
          --account-id ID   default 12-digit account (default: the config file's, else 000000000000)
          --allow-host NAME a Host name to serve besides loopback names (repeatable; e.g. a Docker service name)
          --allow-unsigned  serve requests that change state without a SigV4 Authorization header
          --idle-timeout S  close a connection waiting S seconds for a request (default 60)
          --request-timeout S  refuse a request whose body is not in S seconds after its head (default 60)
          --max-connections N  open connections at most (default 1024)
          --no-http-delivery   capture SNS http/https deliveries in the outbox instead of posting them
          --signing-key FILE   PEM RSA private key (2048 bits or more) that signs SNS messages (default: a new one)
          --signing-cert FILE  PEM X.509 certificate of that key, served at the envelopes' SigningCertURL
          --data-dir PATH      keep queues and messages in a journal in PATH (an existing directory) and recover them at start
          --durability LEVEL   with --data-dir: acknowledged (default), interval:MS or none (see Docs/Durability.md)
          --no-signing         write SNS's placeholder signature instead of signing (about 1 ms less per publish)
          --demo               run the demo's order pipeline on the served broker, in real time, and print the
                               web console's URL; the server keeps serving after the pipeline finishes
          --log-level LEVEL    trace|debug|info|notice|warning|error|critical, to stderr (default notice: start,
                               stop, resets and the server's own failures; info adds requests answered with a
                               client error; debug every request; trace adds method, path and user agent)
        Prints "broker-server listening on http://HOST:PORT" once it listens.
        """

    struct Options {
        /// The server's own settings; the command line's default port is 4566, the port AWS emulators share.
        var server = BrokerServer.Configuration(port: 4566)
        /// The manifest file (`--config`).
        var config: String?
        var region: String?
        var accountId: String?
        var httpDelivery = true
        var signing = true
        var signingKey: String?
        var signingCert: String?
        var logLevel: Logger.Level = .notice
        /// `--data-dir`: a durable broker in this directory.
        var dataDirectory: String?
        /// `--durability`.
        var durability: Durability = .acknowledged
        /// `--demo`: the order pipeline runs against the served broker.
        var demo = false
    }

    static func main() async {
        let arguments = Array(CommandLine.arguments.dropFirst())
        if arguments.contains("--help") || arguments.contains("-h") {
            print(usage)
            return
        }
        guard let options = parse(arguments) else {
            fail(usage, code: 2)
        }
        var manifest = BrokerManifest()
        if let path = options.config {
            do {
                manifest = try BrokerManifest(contentsOf: path)
            } catch {
                fail("broker-server: bad config \(path): \(error)")
            }
        }
        let region = options.region ?? manifest.region ?? "us-east-1"
        let accountId = options.accountId ?? manifest.accountId ?? "000000000000"
        guard accountId.utf8.count == 12, accountId.allSatisfy(\.isASCII), accountId.allSatisfy(\.isNumber) else {
            fail("broker-server: the account id must be 12 digits, not \"\(accountId)\"")
        }
        guard !region.isEmpty, region.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-") }) else {
            fail("broker-server: \"\(region)\" is not a region name")
        }
        let level = options.logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        var serverOptions = options.server
        serverOptions.logger = Logger(label: "broker-server")
        let clock = SystemClock()
        let transport: (any SNSHTTPTransport)? = options.httpDelivery ? URLSessionSNSTransport() : nil
        let signer = options.signing ? makeSigner(keyFile: options.signingKey, certificateFile: options.signingCert, now: clock.now) : nil
        let configuration = BrokerConfiguration(region: region, accountId: accountId, httpTransport: transport,
                                                messageSigner: signer)
        let broker: Broker
        if let directory = options.dataDirectory {
            do {
                broker = try Broker(configuration: configuration, clock: clock,
                                    storage: .directory(directory, durability: options.durability))
            } catch {
                fail("broker-server: cannot open --data-dir \(directory): \(error)")
            }
            if let report = broker.recoveryReport {
                FileHandle.standardError.write(Data(("broker-server: recovered \(report.queues) queues and \(report.messages) messages"
                    + " from \(directory)" + report.damage.map { "; dropped: \($0)" }.joined() + "\n").utf8))
            }
        } else {
            broker = Broker(configuration: configuration, clock: clock)
        }
        let server = BrokerServer(broker: broker, configuration: serverOptions)
        if !BrokerServer.isLoopback(address: options.server.host) {
            FileHandle.standardError.write(Data(("broker-server: warning: listening on \(options.server.host), beyond this machine; "
                + "no credentials are checked, so anyone who can reach the port can read and change every queue and topic\n").utf8))
        }
        do {
            try await server.start()
        } catch {
            fail("broker-server: cannot listen on \(options.server.host):\(options.server.port): \(error)")
        }
        // SubscribeURL and UnsubscribeURL links name this server, so endpoints confirm and unsubscribe here; the
        // manifest's topics are made after, so theirs do too.
        broker.snsEndpoint = server.baseURL
        do {
            try manifest.apply(to: broker)
        } catch {
            fail("broker-server: bad config \(options.config ?? ""): \(error)")
        }
        // The one line a harness reads to learn the port; flushed, since stdout is a pipe there.
        print("broker-server listening on \(server.baseURL ?? "")")
        fflush(nil)

        let serving = Task { try await server.run() }
        if options.demo, let url = server.baseURL {
            // On the system clock, so visibility timeouts and the slow consumer take real seconds: long enough to
            // watch in the console, a minute or two in all.
            print("broker-server: the order pipeline is running; watch it at \(url)/_broker/console")
            fflush(nil)
            Task {
                let pipeline = OrderPipeline(broker: broker, options: DemoOptions(), output: .phases, speed: 1)
                do {
                    let finished = try await pipeline.run()
                    print("broker-server: the order pipeline \(finished ? "finished" : "did not finish"); still serving")
                } catch {
                    print("broker-server: the order pipeline stopped: \(error)")
                }
                fflush(nil)
            }
        }
        let sources = cancelOnSignals(serving)
        do {
            try await serving.value
        } catch {
            fail("broker-server: \(error)")
        }
        sources.forEach { $0.cancel() }
    }

    /// SIGINT and SIGTERM cancel `task`. Nonisolated, so the handlers do not inherit the main actor: they run on a
    /// global queue, where a main-actor closure would trap.
    nonisolated static func cancelOnSignals(_ task: Task<Void, any Error>) -> [any DispatchSourceSignal] {
        [SIGINT, SIGTERM].map { signalNumber in
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            source.setEventHandler { task.cancel() }
            source.resume()
            return source
        }
    }

    static func parse(_ arguments: [String]) -> Options? {
        var options = Options()
        var rest = arguments[...]
        while let flag = rest.popFirst() {
            if flag == "--allow-unsigned" {
                options.server.requireSignature = false
                continue
            }
            if flag == "--no-http-delivery" {
                options.httpDelivery = false
                continue
            }
            if flag == "--no-signing" {
                options.signing = false
                continue
            }
            if flag == "--demo" {
                options.demo = true
                continue
            }
            guard let value = rest.popFirst() else { return nil }
            switch flag {
            case "--port":
                guard let port = Int(value), (0...65_535).contains(port) else { return nil }
                options.server.port = port
            case "--host": options.server.host = value
            case "--config": options.config = value
            case "--region": options.region = value
            case "--account-id": options.accountId = value
            case "--allow-host": options.server.allowedHosts.insert(value)
            case "--signing-key": options.signingKey = value
            case "--signing-cert": options.signingCert = value
            case "--log-level":
                guard let level = Logger.Level(rawValue: value.lowercased()) else { return nil }
                options.logLevel = level
            case "--data-dir": options.dataDirectory = value
            case "--durability":
                if value == "acknowledged" {
                    options.durability = .acknowledged
                } else if value == "none" {
                    options.durability = .none
                } else if value.hasPrefix("interval:"), let ms = Int(value.dropFirst("interval:".count)), ms > 0 {
                    options.durability = .interval(.milliseconds(ms))
                } else {
                    return nil
                }
            case "--idle-timeout":
                guard let seconds = Double(value), seconds > 0, seconds <= 86_400 else { return nil }
                options.server.limits.idleTimeout = .milliseconds(Int64(seconds * 1_000))
            case "--request-timeout":
                guard let seconds = Double(value), seconds > 0, seconds <= 86_400 else { return nil }
                options.server.limits.requestTimeout = .milliseconds(Int64(seconds * 1_000))
            case "--max-connections":
                guard let count = Int(value), count > 0 else { return nil }
                options.server.limits.maximumConnections = count
            default: return nil
            }
        }
        // A key without its certificate (or the reverse) cannot be served or checked.
        guard (options.signingKey == nil) == (options.signingCert == nil) else { return nil }
        return options
    }

    static func fail(_ message: String, code: Int32 = 1) -> Never {
        FileHandle.standardError.write(Data((message + "\n").utf8))
        exit(code)
    }
}
