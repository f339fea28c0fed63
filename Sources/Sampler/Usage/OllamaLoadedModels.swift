import WatcherModel
import WatcherProto

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Ollama's `GET /api/ps`: the models the server holds in memory, each with its size and the
/// part of it in GPU memory (`size_vram`).
enum OllamaLoadedModels {
    private struct Document: Decodable {
        struct Model: Decodable {
            var name: String?
            var model: String?
            var size: UInt64?
            var size_vram: UInt64?
            var expires_at: String?
        }
        var models: [Model]?
    }

    /// The loaded models of an `/api/ps` body; throws when it is not that document.
    static func parse(_ body: [UInt8]) throws -> [ResourceWatcher_V1_LoadedModel] {
        let document = try JSONDecoder().decode(Document.self, from: Data(body))
        return (document.models ?? []).map { model in
            var loaded = ResourceWatcher_V1_LoadedModel()
            loaded.name = model.name ?? model.model ?? "unknown"
            loaded.sizeBytes = model.size ?? 0
            loaded.sizeVramBytes = model.size_vram ?? 0
            loaded.expiresUnixMs = model.expires_at.flatMap(RFC3339.parse) ?? 0
            return loaded
        }
    }
}
