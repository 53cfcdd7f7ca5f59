"""The built-in workloads: a contract (YAML) plus generators/transforms per domain."""
