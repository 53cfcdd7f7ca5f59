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

# No S3 keys here: with LAKESMITH__S3__ENDPOINT_URL set and no keys, lakesmith lets the AWS
# SDK find credentials, i.e. the task role of iam.tf.
