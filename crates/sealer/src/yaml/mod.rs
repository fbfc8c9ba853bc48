//! YAML/JSON streams of Kubernetes objects.
