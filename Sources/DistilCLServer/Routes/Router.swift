import DistilCL
import Foundation
import Hummingbird
import NIOCore

/// The request context: Hummingbird's, plus the connection (to drop the work of a client that
/// has gone).
public struct ServerContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The request's connection.
    public let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}

/// Every route of the server, behind the middleware that turns errors into TEI's JSON,
/// enforces `--max-concurrent-requests` and records the metrics.
/// - Parameter middleware: more middleware, run inside those (authentication, logging, tests).
public func makeRouter(state: ServerState, configuration: ServerConfiguration, metrics: ServerMetrics,
                       middleware: [any MiddlewareProtocol<Request, Response, ServerContext>] = []) -> Router<ServerContext> {
    let router = Router(context: ServerContext.self)
    router.add(middleware: APIMiddleware(state: state, metrics: metrics, limit: configuration.maxConcurrentRequests))
    for m in middleware { router.add(middleware: m) }
    let api = API(state: state, configuration: configuration, metrics: metrics)

    router.get("/health") { _, _ in jsonResponse(["status": "ok"]) }
    router.get("/ready") { _, _ in try api.ready() }
    router.get("/info") { _, _ in try api.info() }
    router.get("/metrics") { _, _ in
        Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                 body: ResponseBody(byteBuffer: ByteBuffer(string: metrics.exposition())))
    }
    let routes: [(String, @Sendable (JSONRequest, ServedModel, ServerContext) async throws -> Response)] = [
        ("/predict", api.predict), ("/embed", api.embed), ("/v1/embeddings", api.openAIEmbeddings),
        ("/tokenize", api.tokenize), ("/zero_shot", api.zeroShot), ("/qa", api.questionAnswering),
        ("/ner", api.ner), ("/fill_mask", api.fillMask),
    ]
    for (path, handler) in routes {
        router.post(RouterPath(path)) { request, context in
            let served = try state.model()
            let body = try await api.body(request, context)
            return try await handler(body, served, context)
        }
    }
    return router
}

/// The routes `/metrics` names; any other path counts as `other`.
let knownRoutes: Set<String> = ["/health", "/ready", "/info", "/metrics", "/predict", "/embed", "/v1/embeddings",
                                "/tokenize", "/zero_shot", "/qa", "/ner", "/fill_mask"]

/// Errors as JSON, the in-flight limit (429 with `Retry-After`) on the inference routes, and
/// per-route counts and latencies.
struct APIMiddleware: RouterMiddleware {
    typealias Context = ServerContext
    let state: ServerState
    let metrics: ServerMetrics
    let limit: Int

    func handle(_ request: Request, context: Context,
                next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let path = request.uri.path
        // The route the router matched (it ignores empty segments: "//embed/" is "/embed").
        let matched = context.endpointPath.map { $0.hasPrefix("/") ? $0 : "/" + $0 } ?? path
        let route = knownRoutes.contains(matched) ? matched : "other"
        let limited = request.method == .post && route != "other"
        var response: Response
        if limited, !state.enter(limit: limit) {
            metrics.recordDropped("overloaded")
            response = APIError.overloaded(limit: limit).response()
            state.answered(status: response.status.code)
        } else {
            if limited { metrics.inFlight.increment() }
            do {
                response = try await next(request, context)
            } catch {
                let apiError = APIError.from(error)
                if apiError.status == .serviceUnavailable, error is BatcherError { metrics.recordDropped("queue_timeout") }
                if apiError.status == .internalServerError {
                    context.logger.error("\(request.method) \(path): \(error)")
                }
                response = apiError.response()
            }
            if limited {
                state.leave()
                state.answered(status: response.status.code)
                metrics.inFlight.decrement()
            }
        }
        metrics.recordRequest(route: route, status: response.status.code, duration: ContinuousClock.now - start)
        return response
    }
}
