# --- general ------------------------------------------------------------------------------

variable "name" {
  description = "Prefix of every resource name (lower case, digits and dashes)."
  type        = string
  default     = "lakesmith"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,20}$", var.name))
    error_message = "name: 2-21 characters, lower case letters, digits and dashes, starting with a letter."
  }
}

variable "region" {
  description = "AWS region of everything (also LAKESMITH__S3__REGION)."
  type        = string
  default     = "eu-west-1"
}

variable "tags" {
  description = "Extra tags on every resource."
  type        = map(string)
  default     = {}
}

variable "deletion_protection" {
  description = "Deletion protection of the RDS instance and the load balancer (false only for throw-away environments)."
  type        = bool
  default     = true
}

variable "log_level" {
  description = "LAKESMITH__LOG_LEVEL of every task: DEBUG, INFO, WARNING or ERROR."
  type        = string
  default     = "INFO"

  validation {
    condition     = contains(["DEBUG", "INFO", "WARNING", "ERROR"], var.log_level)
    error_message = "log_level: DEBUG, INFO, WARNING or ERROR."
  }
}

# --- network ------------------------------------------------------------------------------

variable "vpc_cidr" {
  description = "CIDR of the VPC (public subnets take /24s from .0, private ones from .100)."
  type        = string
  default     = "10.40.0.0/16"
}

variable "az_count" {
  description = "Availability zones used (MSK brokers are spread over them)."
  type        = number
  default     = 3

  validation {
    condition     = var.az_count >= 2 && var.az_count <= 3
    error_message = "az_count: 2 or 3."
  }
}

variable "allowed_cidrs" {
  description = "CIDRs allowed to reach the API's load balancer."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

# --- ECS ----------------------------------------------------------------------------------

variable "image" {
  description = "The lakesmith image (built from the repository's Dockerfile), e.g. ACCOUNT.dkr.ecr.REGION.amazonaws.com/lakesmith:0.1.0."
  type        = string
}

variable "workers" {
  description = "One ECS service per streaming workload: the dataset `lakesmith run` reads, its source kind, the partitions of its Kafka topic (1 for an s3 source) and how many tasks (at most the partitions; an s3 source is read by one worker)."
  type = map(object({
    dataset       = string
    source        = string
    partitions    = number
    desired_count = number
  }))
  default = {
    iot-telemetry   = { dataset = "iot.telemetry", source = "kafka", partitions = 6, desired_count = 3 }
    iot-environment = { dataset = "iot.environment", source = "kafka", partitions = 3, desired_count = 3 }
    music-events    = { dataset = "music.events", source = "s3", partitions = 1, desired_count = 1 }
  }

  validation {
    condition     = alltrue([for w in values(var.workers) : w.desired_count >= 0 && w.desired_count <= w.partitions])
    error_message = "workers: desired_count must be at most partitions (more Kafka consumers than partitions idle)."
  }

  validation {
    condition     = alltrue([for w in values(var.workers) : contains(["kafka", "s3"], w.source) && (w.source != "s3" || w.desired_count <= 1)])
    error_message = "workers: source is kafka or s3, and an s3 source is read by one worker per dataset."
  }
}

variable "task_cpu" {
  description = "Fargate CPU units per task (1024 = 1 vCPU; 4096 MB of memory needs 512 to 2048)."
  type        = number
  default     = 1024
}

variable "task_memory_mb" {
  description = "Fargate memory per task in MB: 4 GB for the workers and the API."
  type        = number
  default     = 4096
}

variable "api_desired_count" {
  description = "API tasks at least (the autoscaler's minimum)."
  type        = number
  default     = 2
}

variable "api_max_count" {
  description = "API tasks at most (the autoscaler's maximum)."
  type        = number
  default     = 6
}

variable "certificate_arn" {
  description = "ACM certificate of the API's HTTPS listener; empty: HTTP only (test setups)."
  type        = string
  default     = ""
}

variable "schedule_jobs" {
  description = "LAKESMITH__SCHEDULE__JOBS of the scheduler service ([[schedule.jobs]] of docs/scheduling.md, as a list of objects)."
  type        = any
  default = [
    { name = "iot-telemetry-compact", cron = "15 2 * * *", kind = "compact", dataset = "iot.telemetry", args = { expire_older_than = "1d" } },
    { name = "iot-environment-compact", cron = "30 2 * * *", kind = "compact", dataset = "iot.environment", args = { expire_older_than = "1d" } },
    { name = "music-events-compact", cron = "45 2 * * *", kind = "compact", dataset = "music.events", args = { expire_older_than = "1d" } },
  ]
}

# --- search -------------------------------------------------------------------------------

variable "typesense_url" {
  description = "Typesense endpoint (Typesense Cloud or a self-hosted cluster; AWS has no managed Typesense), e.g. https://xyz.a1.typesense.net:443."
  type        = string
}

variable "typesense_api_key" {
  description = "Typesense admin API key, stored in Secrets Manager."
  type        = string
  sensitive   = true
}

# --- Kafka (MSK) --------------------------------------------------------------------------

variable "kafka_version" {
  description = "MSK Kafka version."
  type        = string
  default     = "3.8.x"
}

variable "msk_instance_type" {
  description = "MSK broker instance type."
  type        = string
  default     = "kafka.m7g.large"
}

variable "msk_broker_count" {
  description = "MSK brokers (a multiple of az_count)."
  type        = number
  default     = 3
}

variable "msk_volume_gb" {
  description = "EBS storage per broker in GB."
  type        = number
  default     = 500
}

# --- S3, Glue, Athena ---------------------------------------------------------------------

variable "landing_bucket" {
  description = "Landing bucket (raw objects of the s3 sources). Must equal the source.bucket of the contracts that read it (music.events: lakesmith-landing; S3 names are global, so a deployment usually ships its own contract YAML)."
  type        = string
  default     = "lakesmith-landing"
}

variable "lake_bucket" {
  description = "Lake bucket: the Iceberg warehouse under warehouse/ (LAKESMITH__LAKE__WAREHOUSE) and Athena results under athena-results/."
  type        = string
  default     = "lakesmith-lake"
}

variable "landing_expire_days" {
  description = "Raw objects in the landing bucket are deleted this many days after they land (bronze keeps every record)."
  type        = number
  default     = 30

  validation {
    condition     = var.landing_expire_days >= 1
    error_message = "landing_expire_days: at least 1."
  }
}

variable "lake_noncurrent_days" {
  description = "Days a replaced or deleted lake object version is kept (recovery window after compaction/expiry)."
  type        = number
  default     = 14
}

variable "glue_namespaces" {
  description = "Lake namespaces lakesmith writes (one Glue database each): bronze, quarantine, silver and the gold models' names."
  type        = list(string)
  default     = ["bronze", "quarantine", "silver", "music", "entities", "sales", "gold"]
}

variable "athena_bytes_scanned_cutoff" {
  description = "Athena workgroup: a query scanning more bytes than this is cancelled."
  type        = number
  default     = 107374182400 # 100 GiB
}

# --- PostgreSQL (RDS) ---------------------------------------------------------------------

variable "postgres_version" {
  description = "RDS PostgreSQL engine version (major.minor)."
  type        = string
  default     = "16.4"
}

variable "rds_instance_class" {
  description = "RDS instance class."
  type        = string
  default     = "db.m7g.large"
}

variable "rds_allocated_gb" {
  description = "RDS storage at creation, GB."
  type        = number
  default     = 100
}

variable "rds_max_allocated_gb" {
  description = "RDS storage autoscaling ceiling, GB."
  type        = number
  default     = 1000
}

variable "rds_multi_az" {
  description = "RDS standby in a second zone."
  type        = bool
  default     = true
}

variable "rds_backup_days" {
  description = "RDS automated backup retention, days."
  type        = number
  default     = 7
}

# --- CloudWatch ---------------------------------------------------------------------------

variable "log_retention_days" {
  description = "CloudWatch log retention of the tasks and MSK, days."
  type        = number
  default     = 30
}

variable "alarm_actions" {
  description = "ARNs notified when an alarm fires or clears (e.g. an SNS topic); empty: none."
  type        = list(string)
  default     = []
}
