//! The SealedSecret CustomResourceDefinition (feature `crd`).
//!
//! The validation schema is written out by hand to be exactly Bitnami's
//! (`helm/sealed-secrets/crds/bitnami.com_sealedsecrets.yaml`), so that a cluster can switch
//! controllers without re-creating the CRD and every object Bitnami's CRD accepts is accepted
//! here: `encryptedData` and `template.metadata` keep unknown fields, `template.data` may be
//! null. One addition, in `status`: `sealingKeys` (which keys opened it); with Bitnami's own
//! CRD installed the API server drops it and key usage reads as unrecorded.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};

use super::model::SealedSecret;

impl JsonSchema for SealedSecret {
    fn schema_name() -> Cow<'static, str> {
        "SealedSecret".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let string_map = json_schema!({
            "type": "object",
            "additionalProperties": {"type": "string"}
        });
        json_schema!({
            "description": "A Secret sealed (encrypted) with the controller's key; only the controller can open it.",
            "type": "object",
            "required": ["spec"],
            "properties": {
                "apiVersion": {"description": "API version of the object.", "type": "string"},
                "kind": {"description": "Kind of the object.", "type": "string"},
                "metadata": {"type": "object"},
                "spec": {
                    "description": "The sealed data and the template of the Secret.",
                    "type": "object",
                    "required": ["encryptedData"],
                    "properties": {
                        "data": {
                            "description": "Deprecated v1 format: the whole Secret sealed as one value.",
                            "type": "string",
                            "format": "byte"
                        },
                        "encryptedData": {
                            "type": "object",
                            "additionalProperties": {"type": "string"},
                            "x-kubernetes-preserve-unknown-fields": true
                        },
                        "template": {
                            "description": "What the Secret made from this SealedSecret looks like.",
                            "type": "object",
                            "properties": {
                                "data": {
                                    "description": "Items rendered from the decrypted data.",
                                    "type": "object",
                                    "additionalProperties": {"type": "string"},
                                    "nullable": true
                                },
                                "immutable": {
                                    "description": "Whether the Secret is immutable.",
                                    "type": "boolean"
                                },
                                "metadata": {
                                    "description": "Metadata of the Secret.",
                                    "type": "object",
                                    "nullable": true,
                                    "x-kubernetes-preserve-unknown-fields": true,
                                    "properties": {
                                        "annotations": string_map,
                                        "finalizers": {"type": "array", "items": {"type": "string"}},
                                        "labels": string_map,
                                        "name": {"type": "string"},
                                        "namespace": {"type": "string"}
                                    }
                                },
                                "type": {
                                    "description": "The Secret type.",
                                    "type": "string"
                                }
                            }
                        }
                    }
                },
                "status": {
                    "description": "What the controller last observed.",
                    "type": "object",
                    "properties": {
                        "conditions": {
                            "description": "Conditions; `Synced` first.",
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["status", "type"],
                                "properties": {
                                    "lastTransitionTime": {"type": "string", "format": "date-time"},
                                    "lastUpdateTime": {"type": "string", "format": "date-time"},
                                    "message": {"type": "string"},
                                    "reason": {"type": "string"},
                                    "status": {"type": "string"},
                                    "type": {"type": "string"}
                                }
                            }
                        },
                        "observedGeneration": {
                            "description": "The generation the status describes.",
                            "type": "integer",
                            "format": "int64"
                        },
                        "sealingKeys": {
                            "description": "Fingerprints (SHA256:...) of the sealing keys that opened its items when the controller last unsealed it; empty when none of the controller's keys opens it.",
                            "type": "array",
                            "items": {"type": "string"}
                        }
                    }
                }
            }
        })
    }
}
