@testable import WatcherModel

/// The repository's root, found from this file's path, so tests read the shipped config files.
let repositoryRoot: String = {
    var components = #filePath.split(separator: "/", omittingEmptySubsequences: false)
    components.removeLast(3)  // Tests/WatcherModelTests/ConfigFixtures.swift
    return components.joined(separator: "/")
}()

/// Parses `json` (no environment, no flags), returning the problems, or [] when it is valid.
func problems(in json: String) -> [ConfigProblem] {
    do {
        _ = try ConfigLoader.parse(json: Array(json.utf8), source: "test.json")
        return []
    } catch {
        return error.problems
    }
}

/// Parses `json`, which must be valid.
func parse(_ json: String) throws -> Config {
    try ConfigLoader.parse(json: Array(json.utf8), source: "test.json")
}

/// The seed's config file, verbatim.
let seedExample = """
    {
      "port": 5220,
      "metrics_port": 5221,
      "poll_interval_seconds": 15,
      "log_level": "info",
      "orchestrator_url": "http://localhost:5210",
      "alerts": {
        "cpu_threshold_percent": 80,
        "memory_threshold_percent": 80,
        "disk_threshold_percent": 90
      },
      "components": [
        {
          "name": "ollama",
          "container_name": "ollama",
          "ports": [11434, 11435],
          "custom_metrics": ["model_load_time", "inference_time"]
        },
        {
          "name": "langchain",
          "container_name": "langchain",
          "ports": [5111, 5112],
          "custom_metrics": ["chain_execution_time", "embedding_time"]
        }
      ]
    }
    """

/// A valid SHA-256 in lowercase hex (of "token").
let tokenHash = "3c469e9d6c5875d37a43f353d4f88e61fcf812c66eee3457465a40b0da4153e0"
