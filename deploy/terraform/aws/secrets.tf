# Secrets Manager: what the tasks read at start (ECS injects them as environment
# variables; task definitions hold only their ARNs). Values generated here are in the
# Terraform state: keep the state encrypted (an S3 backend with SSE and locking).

resource "aws_secretsmanager_secret" "postgres_dsn" {
  name        = "${local.name}/postgres-dsn"
  description = "LAKESMITH__POSTGRES__DSN"
}

resource "aws_secretsmanager_secret_version" "postgres_dsn" {
  secret_id = aws_secretsmanager_secret.postgres_dsn.id
  secret_string = format(
    "postgresql://%s:%s@%s/%s?sslmode=require",
    aws_db_instance.this.username,
    random_password.postgres.result,
    aws_db_instance.this.endpoint,
    aws_db_instance.this.db_name,
  )
}

resource "random_password" "jwt" {
  length  = 48
  special = false
}

resource "aws_secretsmanager_secret" "jwt_secret" {
  name        = "${local.name}/api-jwt-secret"
  description = "LAKESMITH__API__JWT_SECRET (signs the API's bearer tokens)"
}

resource "aws_secretsmanager_secret_version" "jwt_secret" {
  secret_id     = aws_secretsmanager_secret.jwt_secret.id
  secret_string = random_password.jwt.result
}

resource "aws_secretsmanager_secret" "typesense_api_key" {
  name        = "${local.name}/typesense-api-key"
  description = "LAKESMITH__TYPESENSE__API_KEY (Typesense Cloud or a self-hosted cluster)"
}

resource "aws_secretsmanager_secret_version" "typesense_api_key" {
  secret_id     = aws_secretsmanager_secret.typesense_api_key.id
  secret_string = var.typesense_api_key
}

# librdkafka properties for MSK's SCRAM listener (LAKESMITH__KAFKA__EXTRA takes a JSON object).
resource "aws_secretsmanager_secret" "kafka_client" {
  name        = "${local.name}/kafka-client"
  description = "LAKESMITH__KAFKA__EXTRA: librdkafka SASL_SSL/SCRAM properties for MSK"
}

resource "aws_secretsmanager_secret_version" "kafka_client" {
  secret_id = aws_secretsmanager_secret.kafka_client.id
  secret_string = jsonencode({
    "security.protocol" = "SASL_SSL"
    "sasl.mechanism"    = "SCRAM-SHA-512"
    "sasl.username"     = "lakesmith"
    "sasl.password"     = random_password.kafka.result
  })
}

# Static S3 keys of a dedicated IAM user (iam.tf). lakesmith reads S3 credentials only from
# LAKESMITH__S3__ACCESS_KEY_ID / SECRET_ACCESS_KEY (unset: placeholders for the local S3
# server), not from the task role: see the gap in docs/deployment.md.
resource "aws_secretsmanager_secret" "s3_access_key_id" {
  name        = "${local.name}/s3-access-key-id"
  description = "LAKESMITH__S3__ACCESS_KEY_ID"
}

resource "aws_secretsmanager_secret_version" "s3_access_key_id" {
  secret_id     = aws_secretsmanager_secret.s3_access_key_id.id
  secret_string = aws_iam_access_key.lake.id
}

resource "aws_secretsmanager_secret" "s3_secret_access_key" {
  name        = "${local.name}/s3-secret-access-key"
  description = "LAKESMITH__S3__SECRET_ACCESS_KEY"
}

resource "aws_secretsmanager_secret_version" "s3_secret_access_key" {
  secret_id     = aws_secretsmanager_secret.s3_secret_access_key.id
  secret_string = aws_iam_access_key.lake.secret
}
