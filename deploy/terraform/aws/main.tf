# lakesmith on AWS: MSK, S3 (landing + lake), Glue + Athena, RDS PostgreSQL, ECS Fargate
# (a service per streaming workload, the API behind an ALB, the scheduler), Secrets
# Manager, least-privilege IAM and CloudWatch. One file per concern:
#
#   network.tf      VPC, subnets, NAT, security groups, S3 gateway endpoint
#   msk.tf          Kafka (MSK provisioned, SASL/SCRAM over TLS)
#   s3.tf           landing bucket (raw expires) and lake bucket (versioned)
#   glue_athena.tf  Glue databases (the Iceberg catalog lakesmith writes) and Athena
#   rds.tf          PostgreSQL: time series, warehouse, commit locks, job history
#   secrets.tf      Secrets Manager: DSN, JWT secret, Typesense key, Kafka credentials
#   iam.tf          task execution role and one task role per kind of task
#   ecs.tf          cluster, task definitions, services
#   alb.tf          the API's load balancer
#   cloudwatch.tf   log groups and alarms
#
# Not validated with `terraform validate`/`plan`: the providers cannot be downloaded on the
# machine this was written on; `terraform fmt -check` passes (docs/deployment.md).

provider "aws" {
  region = var.region

  default_tags {
    tags = merge({ Project = "lakesmith", ManagedBy = "terraform" }, var.tags)
  }
}

data "aws_availability_zones" "available" {
  state = "available"
}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  name = var.name
  azs  = slice(data.aws_availability_zones.available.names, 0, var.az_count)

  # Settings shared by every lakesmith task (LAKESMITH__SECTION__FIELD, tests/unit/test_deploy.py
  # checks each name against Settings). Secrets are in local.lakesmith_secrets.
  lakesmith_environment = {
    LAKESMITH_CONFIG                    = "none"
    LAKESMITH__STATE_DIR                = "/var/lib/lakesmith"
    LAKESMITH__LOG_LEVEL                = var.log_level
    LAKESMITH__KAFKA__BOOTSTRAP_SERVERS = aws_msk_cluster.this.bootstrap_brokers_sasl_scram
    LAKESMITH__TYPESENSE__URL           = var.typesense_url
    LAKESMITH__S3__ENDPOINT_URL         = "https://s3.${var.region}.amazonaws.com"
    LAKESMITH__S3__REGION               = var.region
    LAKESMITH__LAKE__WAREHOUSE          = "s3://${aws_s3_bucket.lake.bucket}/warehouse"
    LAKESMITH__LAKE__CATALOG            = "glue"
    LAKESMITH__LAKE__COMMIT_LOCK        = "postgres"
    # read by the music.events contract (${LAKESMITH_LANDING_BUCKET:-lakesmith-landing})
    LAKESMITH_LANDING_BUCKET = aws_s3_bucket.landing.bucket
  }

  # Injected by ECS from Secrets Manager (never in the task definition in clear).
  lakesmith_secrets = {
    LAKESMITH__POSTGRES__DSN      = aws_secretsmanager_secret.postgres_dsn.arn
    LAKESMITH__KAFKA__EXTRA       = aws_secretsmanager_secret.kafka_client.arn
    LAKESMITH__TYPESENSE__API_KEY = aws_secretsmanager_secret.typesense_api_key.arn
  }

  api_environment = {
    LAKESMITH__API__HOST             = "0.0.0.0"
    LAKESMITH__API__PORT             = "8000"
    LAKESMITH__API__MIGRATE_ON_START = "true"
  }

  api_secrets = {
    LAKESMITH__API__JWT_SECRET = aws_secretsmanager_secret.jwt_secret.arn
  }

  scheduler_environment = {
    LAKESMITH__SCHEDULE__TIMEZONE = "UTC"
    LAKESMITH__SCHEDULE__JOBS     = jsonencode(var.schedule_jobs)
  }

  # Every secret a task may read (the execution role's policy is scoped to these).
  secret_arns = [
    aws_secretsmanager_secret.postgres_dsn.arn,
    aws_secretsmanager_secret.kafka_client.arn,
    aws_secretsmanager_secret.typesense_api_key.arn,
    aws_secretsmanager_secret.jwt_secret.arn,
  ]
}
