/// The OpenAPI 3 document of the `:5220` API, served at `/openapi.json`; `docs/openapi.json` is
/// the same text, byte for byte (`OpenAPIDocumentTests` checks it, and that its paths are `StatusRoutes.routes`).
enum OpenAPIDocument {
    static let json = #"""
        {
          "openapi": "3.0.3",
          "info": {
            "title": "resource-watcher status API",
            "version": "0.1.0",
            "description": "The JSON API the resource-watcher agent serves on `port` (default 5220): health, the latest component metrics, model usage, active alerts, and model usage ingest. Reads are answered from the agent's in-memory head (the newest sample batch and its active alerts, the usage totals), never from disk. The Prometheus exposition is a separate server on `metrics_port` (default 5221, `GET /metrics`) and is not described here.\n\nUnits: `cpu_usage` is percent of the component's CPU capacity (its cgroup CPU limit, else all host cores), 0-100; `memory_usage` is MiB in use; `memory_usage_percent` is percent of the component's memory limit, else of host MemTotal; `disk_usage` is MiB the component occupies; `network_in` and `network_out` are KiB/s over the last interval. Timestamps are RFC 3339 UTC to the second.\n\nAuth: every endpoint but `/health` and `/openapi.json` needs `Authorization: Bearer <token>`. Tokens are configured as SHA-256 hashes (`auth.tokens`, `auth.operator_tokens`). A tenant token reads and writes its own `client_id` only; an operator token reads and writes every tenant. With no token configured (allowed only while `listen_address` is a loopback address) the API is open and the header is not needed.\n\nErrors: every error body is `{\"error\": {\"code\": \"...\", \"message\": \"...\"}}`. A path not listed here gets 404 (code `not_found`); a listed path asked with another method (HEAD included) gets 405 (code `method_not_allowed`) with an `Allow` header; see `components.responses`."
          },
          "servers": [
            {
              "url": "http://127.0.0.1:5220",
              "description": "The agent on its default listen_address and port."
            }
          ],
          "security": [
            {
              "bearerAuth": []
            }
          ],
          "tags": [
            {
              "name": "agent",
              "description": "The agent itself."
            },
            {
              "name": "metrics",
              "description": "The seed's read endpoints, per tenant."
            },
            {
              "name": "usage",
              "description": "Model usage ingest."
            }
          ],
          "paths": {
            "/health": {
              "get": {
                "tags": [
                  "agent"
                ],
                "operationId": "getHealth",
                "summary": "The agent's health",
                "description": "The seed's `status`, `version` and `timestamp`, plus uptime, sampler, spool and per-sink state. `status` is `degraded` when a sink is failing or the spool holds more than 90% of `spool.max_bytes` (each cause is listed in `reasons`), else `healthy`. Needs no token and ignores `client_id`.",
                "security": [],
                "responses": {
                  "200": {
                    "description": "The agent's health.",
                    "content": {
                      "application/json": {
                        "schema": {
                          "$ref": "#/components/schemas/Health"
                        },
                        "example": {
                          "status": "healthy",
                          "version": "0.1.0",
                          "timestamp": "2025-04-05T19:45:00Z",
                          "reasons": [],
                          "agent_id": "gpu-host-1/client1",
                          "uptime_seconds": 3600.25,
                          "components": {
                            "total": 2,
                            "down": 0
                          },
                          "sampler": {
                            "ticks": 240,
                            "last_tick_duration_seconds": 0.012,
                            "last_tick": "2025-04-05T19:45:00Z"
                          },
                          "spool": {
                            "bytes": 5242880,
                            "max_bytes": 1073741824,
                            "used_percent": 0.5,
                            "segments": 1,
                            "last_sequence": 512,
                            "dropped_appends": 0
                          },
                          "sinks": [
                            {
                              "name": "prometheus",
                              "status": "ok",
                              "lag_records": 0,
                              "lag_seconds": 0,
                              "sent_requests": 240,
                              "sent_samples": 3360,
                              "failed_attempts": 0,
                              "dropped_requests": {},
                              "last_success": "2025-04-05T19:45:00Z"
                            }
                          ]
                        }
                      }
                    }
                  }
                }
              }
            },
            "/metrics/components": {
              "get": {
                "tags": [
                  "metrics"
                ],
                "operationId": "getComponentMetrics",
                "summary": "Latest resource usage of the tenant's components",
                "description": "The tenant's components in the newest sample batch; an empty list before the first tick.",
                "parameters": [
                  {
                    "$ref": "#/components/parameters/ClientID"
                  }
                ],
                "responses": {
                  "200": {
                    "description": "The tenant's components.",
                    "content": {
                      "application/json": {
                        "schema": {
                          "$ref": "#/components/schemas/ComponentMetrics"
                        },
                        "example": {
                          "metrics": [
                            {
                              "component": "ollama",
                              "resources": {
                                "cpu_usage": 15.2,
                                "memory_usage": 1245.6,
                                "memory_usage_percent": 35.8,
                                "disk_usage": 10240,
                                "network_in": 12.5,
                                "network_out": 8.3
                              },
                              "status": "healthy"
                            }
                          ],
                          "timestamp": "2025-04-05T19:45:00Z"
                        }
                      }
                    }
                  },
                  "400": {
                    "description": "`client_id` is present but empty (code `invalid_parameter`).",
                    "content": {
                      "application/json": {
                        "schema": {
                          "$ref": "#/components/schemas/Error"
                        }
                      }
                    }
                  },
                  "401": {
                    "$ref": "#/components/responses/Unauthorized"
                  },
                  "403": {
                    "description": "The token belongs to another tenant than the `client_id` asked for (code `forbidden`).",
                    "content": {
                      "application/json": {
                        "schema": {
                          "$ref": "#/components/schemas/Error"
                        }
                      }
                    }
                  },
                  "404": {
                    "description": "No configured tenant has this `client_id` (code `unknown_client_id`): not the agent's own, no component's, no token's.",
                    "content": {
                      "application/json": {
                        "schema": {
                          "$ref": "#/components/schemas/Error"
                        }
                      }
                    }
                  }
                }
              }
            },
            "/metrics/models": {
              "get": {
                "tags": [
                  "metrics"
                ],
                "operationId": "getModelUsage",
                "summary": "Model usage totals of the tenant",
                "description": "Running totals per model and provider of the events posted to `/v1/usage`. Every sample batch carries them, so they survive a restart.",
                "parameters": [
                  {
                    "$ref": "#/components/parameters/ClientID"
                  }
                ],
                "responses": {
                  "200": {
                    "description": "The tenant's models.",
                    "content": {
                      "application/json": {
                        "schema": {
                          "$ref": "#/components/schemas/ModelUsage"
                        },
                        "example": {
                          "models": [
                            {
                              "name": "llama2",
                              "provider": "ollama",
                              "requests_count": 124,
                              "tokens_input": 15678,
                              "tokens_output": 32456,
                              "avg_latency_ms": 235.6,
                              "last_used": "2025-04-05T19:40:00Z"
                            }
                          ],
                          "timestamp": "2025-04-05T19:45:00Z"
                        }
                      }
                    }
                  },
                  "400": {
                    "description": "`client_id` is present but empty (code `invalid_parameter`).",
                    "content": {
                      "application/json": {
                        "schema": {
                          "$ref": "#/components/schemas/Error"
                        }
                      }
                    }
                  },
                  "401": {
                    "$ref": "#/components/responses/Unauthorized"
                  },
                  "403": {
                    "description": "The token belongs to another tenant than the `client_id` asked for (code `forbidden`).",
                    "content": {
                      "application/json": {
                        "schema": {
                          "$ref": "#/components/schemas/Error"
                        }
                      }
                    }
                  },
                  "404": {
                    "description": "No configured tenant has this `client_id` (code `unknown_client_id`): not the agent's own, no component's, no token's.",
                    "content": {
                      "application/json": {
                        "schema": {
                          "$ref": "#/components/schemas/Error"
                        }
                      }
                    }
                  }
                }
              }
            },
            "/alerts": {
              "get": {
                "tags": [
                  "metrics"
                ],
                "operationId": "getAlerts",
                "summary": "The tenant's active alerts",
                "description": "The alerts active in the newest sample batch; resolved alerts are not listed.",
                "parameters": [
                  {
                    "$ref": "#/components/parameters/ClientID"
                  }
                ],
                "responses": {
                  "200": {
                    "description": "The tenant's active alerts.",
                    "content": {
                      "application/json": {
                        "schema": {
                          "$ref": "#/components/schemas/Alerts"
                        },
                        "example": {
                          "alerts": [
                            {
                              "component": "ollama",
                              "alert_type": "high_memory_usage",
                              "value": 85.2,
                              "threshold": 80,
                              "timestamp": "2025-04-05T19:43:00Z",
                              "severity": "warning",
                              "message": "ollama memory at 85.2% (warning 80%)"
                            }
                          ]
                        }
                      }
                    }
                  },
                  "400": {
                    "description": "`client_id` is present but empty (code `invalid_parameter`).",
                    "content": {
                      "application/json": {
                        "schema": {
                          "$ref": "#/components/schemas/Error"
                        }
                      }
                    }
                  },
                  "401": {
                    "$ref": "#/components/responses/Unauthorized"
                  },
                  "403": {
                    "description": "The token belongs to another tenant than the `client_id` asked for (code `forbidden`).",
                    "content": {
                      "application/json": {
                        "schema": {
                          "$ref": "#/components/schemas/Error"
                        }
                      }
                    }
                  },
                  "404": {
                    "description": "No configured tenant has this `client_id` (code `unknown_client_id`): not the agent's own, no component's, no token's.",
                    "content": {
                      "application/json": {
                        "schema": {
                          "$ref": "#/components/schemas/Error"
                        }
                      }
                    }
                  }
                }
              }
            },
            "/v1/usage": {
              "post": {
                "tags": [
                  "usage"
                ],
                "operationId": "postUsage",
                "summary": "Record model usage events",
                "description": "Each event is one model request. The body is checked whole before anything is stored: one invalid event refuses the request (400 naming the event and the field, e.g. `[2].tokens_input`) and stores none of it. Accepted events are in the spool (durable) before the 202, and show in `/metrics/models` at once. At most 1000 events and 1 MiB per request.",
                "requestBody": {
                  "required": true,
                  "description": "One event, an array of events, or `{\"events\": [...]}`.",
                  "content": {
                    "application/json": {
                      "schema": {
                        "$ref": "#/components/schemas/UsageEvents"
                      },
                      "example": {
                        "events": [
                          {
                            "model": "llama2",
                            "provider": "ollama",
                            "client_id": "client1",
                            "tokens_input": 120,
                            "tokens_output": 310,
                            "latency_ms": 235.6,
                            "timestamp": "2025-04-05T19:40:00Z"
                          }
                        ]
                      }
                    }
                  }
                },
                "responses": {
                  "202": {
                    "description": "Every event was stored.",
                    "content": {
                      "application/json": {
                        "schema": {
                          "$ref": "#/components/schemas/UsageAccepted"
                        },
                        "example": {
                          "accepted": 1
                        }
                      }
                    }
                  },
                  "400": {
                    "description": "The body is not a valid batch of events. Codes: `empty_body`, `malformed_json`, `invalid_body` (not an object or array), `empty_batch`, `too_many_events`, `unknown_field`, `duplicate_field`, `missing_field`, `invalid_field`, `unknown_client_id` (an event's `client_id` is no configured tenant).",
                    "content": {
                      "application/json": {
                        "schema": {
                          "$ref": "#/components/schemas/Error"
                        }
                      }
                    }
                  },
                  "401": {
                    "$ref": "#/components/responses/Unauthorized"
                  },
                  "403": {
                    "description": "An event's `client_id` belongs to another tenant than the token's (code `forbidden`).",
                    "content": {
                      "application/json": {
                        "schema": {
                          "$ref": "#/components/schemas/Error"
                        }
                      }
                    }
                  },
                  "413": {
                    "description": "The body is larger than 1 MiB (code `body_too_large`).",
                    "content": {
                      "application/json": {
                        "schema": {
                          "$ref": "#/components/schemas/Error"
                        }
                      }
                    }
                  },
                  "415": {
                    "description": "`Content-Type` is present and is not `application/json` (code `unsupported_media_type`). A request without `Content-Type` is read as JSON.",
                    "content": {
                      "application/json": {
                        "schema": {
                          "$ref": "#/components/schemas/Error"
                        }
                      }
                    }
                  },
                  "503": {
                    "description": "The spool could not store the events, e.g. the disk is full (code `spool_unavailable`); nothing was recorded, retry later.",
                    "content": {
                      "application/json": {
                        "schema": {
                          "$ref": "#/components/schemas/Error"
                        }
                      }
                    }
                  }
                }
              }
            },
            "/openapi.json": {
              "get": {
                "tags": [
                  "agent"
                ],
                "operationId": "getOpenAPIDocument",
                "summary": "This document",
                "security": [],
                "responses": {
                  "200": {
                    "description": "The OpenAPI 3.0 document of this API.",
                    "content": {
                      "application/json": {
                        "schema": {
                          "type": "object"
                        }
                      }
                    }
                  }
                }
              }
            }
          },
          "components": {
            "securitySchemes": {
              "bearerAuth": {
                "type": "http",
                "scheme": "bearer",
                "description": "A tenant or operator token, sent as `Authorization: Bearer <token>`; the config holds its SHA-256 in lowercase hex. Not needed when no token is configured (loopback only)."
              }
            },
            "parameters": {
              "ClientID": {
                "name": "client_id",
                "in": "query",
                "required": false,
                "description": "The tenant to read. Default: the token's own tenant; with an operator token or no tokens configured, the agent's `client_id`.",
                "schema": {
                  "type": "string",
                  "minLength": 1
                },
                "example": "client1"
              }
            },
            "responses": {
              "Unauthorized": {
                "description": "The bearer token is missing, malformed or unknown (code `unauthorized`).",
                "headers": {
                  "WWW-Authenticate": {
                    "description": "Always `Bearer realm=\"resource-watcher\"`.",
                    "schema": {
                      "type": "string"
                    }
                  }
                },
                "content": {
                  "application/json": {
                    "schema": {
                      "$ref": "#/components/schemas/Error"
                    }
                  }
                }
              },
              "NotFound": {
                "description": "No such path (code `not_found`); returned for any path not listed in `paths`.",
                "content": {
                  "application/json": {
                    "schema": {
                      "$ref": "#/components/schemas/Error"
                    }
                  }
                }
              },
              "MethodNotAllowed": {
                "description": "A listed path asked with a method it does not answer, HEAD included (code `method_not_allowed`).",
                "headers": {
                  "Allow": {
                    "description": "The methods the path answers, e.g. `GET`.",
                    "schema": {
                      "type": "string"
                    }
                  }
                },
                "content": {
                  "application/json": {
                    "schema": {
                      "$ref": "#/components/schemas/Error"
                    }
                  }
                }
              }
            },
            "schemas": {
              "Error": {
                "type": "object",
                "required": [
                  "error"
                ],
                "properties": {
                  "error": {
                    "type": "object",
                    "required": [
                      "code",
                      "message"
                    ],
                    "properties": {
                      "code": {
                        "type": "string",
                        "description": "Stable and machine-readable, e.g. `unauthorized`, `invalid_field`.",
                        "example": "invalid_field"
                      },
                      "message": {
                        "type": "string",
                        "description": "What is wrong and where, for people.",
                        "example": "[0].tokens_input must not be negative, got -3"
                      }
                    }
                  }
                }
              },
              "Health": {
                "type": "object",
                "required": [
                  "status",
                  "version",
                  "timestamp"
                ],
                "properties": {
                  "status": {
                    "type": "string",
                    "enum": [
                      "healthy",
                      "degraded"
                    ],
                    "description": "`degraded` while a source of figures (the Docker engine) fails, a sink is failing or the spool is over 90% of `spool.max_bytes`."
                  },
                  "version": {
                    "type": "string",
                    "description": "The agent's version.",
                    "example": "0.1.0"
                  },
                  "timestamp": {
                    "type": "string",
                    "format": "date-time",
                    "description": "When this answer was made."
                  },
                  "reasons": {
                    "type": "array",
                    "items": {
                      "type": "string"
                    },
                    "description": "Why the agent is degraded, one sentence per cause; empty when healthy.",
                    "example": [
                      "sink loki is failing"
                    ]
                  },
                  "agent_id": {
                    "type": "string",
                    "description": "`<host name>/<client_id>`; sinks use it in idempotency keys."
                  },
                  "uptime_seconds": {
                    "type": "number",
                    "minimum": 0,
                    "description": "Seconds since the agent started."
                  },
                  "components": {
                    "type": "object",
                    "required": [
                      "total",
                      "down"
                    ],
                    "description": "Counts over every tenant's components in the newest sample batch.",
                    "properties": {
                      "total": {
                        "type": "integer",
                        "minimum": 0
                      },
                      "down": {
                        "type": "integer",
                        "minimum": 0,
                        "description": "Components not found or not running."
                      }
                    }
                  },
                  "sampler": {
                    "type": "object",
                    "required": [
                      "ticks",
                      "last_tick_duration_seconds"
                    ],
                    "properties": {
                      "ticks": {
                        "type": "integer",
                        "minimum": 0,
                        "description": "Ticks since the agent started."
                      },
                      "last_tick_duration_seconds": {
                        "type": "number",
                        "minimum": 0,
                        "description": "How long the last tick took to sample every component; 0 before the first."
                      },
                      "last_tick": {
                        "type": "string",
                        "format": "date-time",
                        "description": "When the last tick ran; absent before the first."
                      }
                    }
                  },
                  "spool": {
                    "type": "object",
                    "required": [
                      "bytes",
                      "max_bytes",
                      "used_percent",
                      "segments",
                      "last_sequence",
                      "dropped_appends"
                    ],
                    "properties": {
                      "bytes": {
                        "type": "integer",
                        "minimum": 0,
                        "description": "Bytes the spool's segment files hold."
                      },
                      "max_bytes": {
                        "type": "integer",
                        "minimum": 1,
                        "description": "`spool.max_bytes`."
                      },
                      "used_percent": {
                        "type": "number",
                        "minimum": 0,
                        "description": "`bytes` as a percent of `max_bytes`, one decimal."
                      },
                      "segments": {
                        "type": "integer",
                        "minimum": 0
                      },
                      "last_sequence": {
                        "type": "integer",
                        "minimum": 0,
                        "description": "Sequence number of the newest record; 0 when nothing was ever stored."
                      },
                      "dropped_appends": {
                        "type": "integer",
                        "minimum": 0,
                        "description": "Batches that could not be stored (disk full, I/O errors) since the agent started."
                      }
                    }
                  },
                  "sources": {
                    "type": "array",
                    "description": "Sources of figures that failed the last tick (today the Docker engine: unreachable, refusing, too old); empty while every source answers. Each one makes `status` `degraded` and is the first of `reasons`.",
                    "items": {
                      "type": "object",
                      "required": [
                        "name",
                        "status",
                        "message",
                        "since"
                      ],
                      "properties": {
                        "name": {
                          "type": "string",
                          "enum": [
                            "docker"
                          ]
                        },
                        "status": {
                          "type": "string",
                          "enum": [
                            "failing"
                          ]
                        },
                        "message": {
                          "type": "string",
                          "description": "Where the source was reached and what it said.",
                          "example": "cannot connect to the Docker engine at unix:///var/run/docker.sock: Could not connect to server"
                        },
                        "since": {
                          "type": "string",
                          "format": "date-time",
                          "description": "When this problem started."
                        }
                      }
                    }
                  },
                  "sinks": {
                    "type": "array",
                    "items": {
                      "$ref": "#/components/schemas/SinkHealth"
                    },
                    "description": "One entry per configured sink, in the order prometheus, loki, orchestrator; empty when none is on."
                  }
                },
                "description": "The seed's status, version and timestamp for every caller. The other fields are agent-wide details (agent id, every tenant's component counts, sink errors): they are present only for an operator token, or when no tokens are configured."
              },
              "SinkHealth": {
                "type": "object",
                "required": [
                  "name",
                  "status",
                  "lag_records",
                  "lag_seconds",
                  "sent_requests",
                  "failed_attempts",
                  "dropped_requests",
                  "last_success"
                ],
                "properties": {
                  "name": {
                    "type": "string",
                    "enum": [
                      "prometheus",
                      "loki",
                      "orchestrator"
                    ]
                  },
                  "status": {
                    "type": "string",
                    "enum": [
                      "ok",
                      "failing"
                    ],
                    "description": "`failing` when the last attempt got no acceptable answer (network error, timeout, 5xx, 429)."
                  },
                  "lag_records": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "Spool records not yet acknowledged by the destination."
                  },
                  "lag_seconds": {
                    "type": "number",
                    "minimum": 0,
                    "description": "Age of the oldest record not yet delivered, one decimal; 0 when caught up."
                  },
                  "sent_requests": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "Requests the destination acknowledged (2xx) since the agent started."
                  },
                  "sent_samples": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "Samples in those requests; present for `prometheus` only."
                  },
                  "sent_lines": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "Log lines in those requests; present for `loki` only."
                  },
                  "sent_posts": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "Posts in those requests; present for `orchestrator` only."
                  },
                  "failed_attempts": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "Attempts that did not deliver (network errors, timeouts, 5xx, 429, dropped 4xx)."
                  },
                  "dropped_requests": {
                    "type": "object",
                    "additionalProperties": {
                      "type": "integer",
                      "minimum": 1
                    },
                    "description": "Requests given up on, by reason (`http_400`, `too_old`, ...).",
                    "example": {
                      "http_400": 2
                    }
                  },
                  "last_success": {
                    "type": "string",
                    "format": "date-time",
                    "nullable": true,
                    "description": "When the destination last acknowledged a request; null before the first."
                  },
                  "last_error": {
                    "type": "string",
                    "description": "The last failure, for people; present only while `failing`."
                  }
                }
              },
              "ComponentMetrics": {
                "type": "object",
                "required": [
                  "metrics",
                  "timestamp"
                ],
                "properties": {
                  "metrics": {
                    "type": "array",
                    "items": {
                      "$ref": "#/components/schemas/ComponentMetric"
                    }
                  },
                  "timestamp": {
                    "type": "string",
                    "format": "date-time",
                    "description": "When the batch was sampled (now, before the first tick)."
                  }
                }
              },
              "ComponentMetric": {
                "type": "object",
                "required": [
                  "component",
                  "resources",
                  "status"
                ],
                "properties": {
                  "component": {
                    "type": "string",
                    "description": "The component's configured `name`."
                  },
                  "resources": {
                    "$ref": "#/components/schemas/Resources"
                  },
                  "status": {
                    "type": "string",
                    "enum": [
                      "healthy",
                      "degraded",
                      "down",
                      "unknown"
                    ],
                    "description": "`degraded`: an alert is active; `down`: not found or not running; `unknown`: not sampled yet, or its source (the Docker engine) did not answer."
                  },
                  "status_reason": {
                    "type": "string",
                    "description": "Why the status is what it is, when that is not plain: `no container named ollama`, `container ollama is exited`, `cannot connect to the Docker engine at unix:///var/run/docker.sock: ...`. Absent otherwise.",
                    "example": "no container named ollama"
                  }
                }
              },
              "Resources": {
                "type": "object",
                "required": [
                  "cpu_usage",
                  "memory_usage",
                  "memory_usage_percent",
                  "disk_usage",
                  "network_in",
                  "network_out"
                ],
                "description": "Zero for a component that is down.",
                "properties": {
                  "cpu_usage": {
                    "type": "number",
                    "minimum": 0,
                    "maximum": 100,
                    "description": "Percent of the component's CPU capacity over the last interval: of its cgroup CPU limit when it has one, else of all host cores."
                  },
                  "memory_usage": {
                    "type": "number",
                    "minimum": 0,
                    "description": "MiB in use, one decimal (containers: usage minus inactive file cache; processes: RSS of the process tree)."
                  },
                  "memory_usage_percent": {
                    "type": "number",
                    "minimum": 0,
                    "maximum": 100,
                    "description": "Percent of the component's memory limit when it has one, else of host MemTotal."
                  },
                  "disk_usage": {
                    "type": "number",
                    "minimum": 0,
                    "description": "MiB the component occupies, one decimal: container writable layer and volumes, or its `data_paths`."
                  },
                  "network_in": {
                    "type": "number",
                    "minimum": 0,
                    "description": "KiB/s received over the last interval, one decimal (host-wide for host-network processes)."
                  },
                  "network_out": {
                    "type": "number",
                    "minimum": 0,
                    "description": "KiB/s sent over the last interval, one decimal (host-wide for host-network processes)."
                  }
                }
              },
              "ModelUsage": {
                "type": "object",
                "required": [
                  "models",
                  "timestamp"
                ],
                "properties": {
                  "models": {
                    "type": "array",
                    "items": {
                      "$ref": "#/components/schemas/ModelUsageEntry"
                    }
                  },
                  "timestamp": {
                    "type": "string",
                    "format": "date-time",
                    "description": "When this answer was made."
                  }
                }
              },
              "ModelUsageEntry": {
                "type": "object",
                "required": [
                  "name",
                  "provider",
                  "requests_count",
                  "tokens_input",
                  "tokens_output",
                  "avg_latency_ms",
                  "last_used"
                ],
                "properties": {
                  "name": {
                    "type": "string",
                    "description": "The model, e.g. `llama2`."
                  },
                  "provider": {
                    "type": "string",
                    "description": "e.g. `ollama`, `openai`; `unknown` when events did not say."
                  },
                  "requests_count": {
                    "type": "integer",
                    "minimum": 0
                  },
                  "tokens_input": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "Prompt tokens, summed."
                  },
                  "tokens_output": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "Completion tokens, summed."
                  },
                  "avg_latency_ms": {
                    "type": "number",
                    "minimum": 0,
                    "description": "Mean latency per request in milliseconds, one decimal."
                  },
                  "last_used": {
                    "type": "string",
                    "format": "date-time",
                    "description": "The newest event's `timestamp`."
                  }
                }
              },
              "Alerts": {
                "type": "object",
                "required": [
                  "alerts"
                ],
                "properties": {
                  "alerts": {
                    "type": "array",
                    "items": {
                      "$ref": "#/components/schemas/Alert"
                    }
                  }
                }
              },
              "Alert": {
                "type": "object",
                "required": [
                  "component",
                  "alert_type",
                  "value",
                  "threshold",
                  "timestamp",
                  "severity",
                  "message"
                ],
                "properties": {
                  "component": {
                    "type": "string"
                  },
                  "alert_type": {
                    "type": "string",
                    "enum": [
                      "high_cpu_usage",
                      "high_memory_usage",
                      "high_disk_usage",
                      "component_down"
                    ]
                  },
                  "value": {
                    "type": "number",
                    "minimum": 0,
                    "description": "The observed percent: `cpu_usage`, `memory_usage_percent`, or the fullest filesystem holding the component's data; 0 for `component_down`."
                  },
                  "threshold": {
                    "type": "number",
                    "minimum": 0,
                    "description": "The percent crossed: the warning threshold, or the critical one when `severity` is `critical`; 0 for `component_down`."
                  },
                  "timestamp": {
                    "type": "string",
                    "format": "date-time",
                    "description": "When the alert started firing."
                  },
                  "severity": {
                    "type": "string",
                    "enum": [
                      "warning",
                      "critical"
                    ],
                    "description": "`component_down` is always `critical`."
                  },
                  "message": {
                    "type": "string",
                    "description": "A short sentence for people.",
                    "example": "ollama memory at 85.2% (warning 80%)"
                  }
                }
              },
              "UsageEvents": {
                "description": "One event, an array of 1 to 1000 events, or an object whose only member is `events`.",
                "oneOf": [
                  {
                    "$ref": "#/components/schemas/UsageEvent"
                  },
                  {
                    "type": "array",
                    "items": {
                      "$ref": "#/components/schemas/UsageEvent"
                    },
                    "minItems": 1,
                    "maxItems": 1000
                  },
                  {
                    "type": "object",
                    "required": [
                      "events"
                    ],
                    "additionalProperties": false,
                    "properties": {
                      "events": {
                        "type": "array",
                        "items": {
                          "$ref": "#/components/schemas/UsageEvent"
                        },
                        "minItems": 1,
                        "maxItems": 1000
                      }
                    }
                  }
                ]
              },
              "UsageEvent": {
                "type": "object",
                "description": "One model request. Unknown and repeated fields are refused.",
                "required": [
                  "model",
                  "tokens_input",
                  "tokens_output"
                ],
                "additionalProperties": false,
                "properties": {
                  "model": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 256,
                    "description": "The model's name, 1 to 256 bytes of UTF-8."
                  },
                  "provider": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 256,
                    "description": "1 to 256 bytes of UTF-8; `unknown` when absent."
                  },
                  "client_id": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 256,
                    "description": "A configured tenant the token may write. Default: the token's tenant; with an operator token or no tokens configured, the agent's `client_id`."
                  },
                  "tokens_input": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "Prompt tokens; a whole number (`12.0` is accepted as 12)."
                  },
                  "tokens_output": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "Completion tokens; a whole number (`12.0` is accepted as 12)."
                  },
                  "latency_ms": {
                    "type": "number",
                    "minimum": 0,
                    "maximum": 86400000,
                    "exclusiveMaximum": true,
                    "description": "How long the request took, in milliseconds (kept to the microsecond)."
                  },
                  "timestamp": {
                    "type": "string",
                    "format": "date-time",
                    "description": "When the request was made (RFC 3339); default: when the event is received. Becomes the model's `last_used`."
                  }
                }
              },
              "UsageAccepted": {
                "type": "object",
                "required": [
                  "accepted"
                ],
                "properties": {
                  "accepted": {
                    "type": "integer",
                    "minimum": 1,
                    "description": "Events stored."
                  }
                }
              }
            }
          }
        }

        """#
}
