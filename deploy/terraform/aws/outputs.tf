output "api_url" {
  description = "The API's address (the ALB)."
  value       = "${var.certificate_arn == "" ? "http" : "https"}://${aws_lb.api.dns_name}"
}

output "kafka_bootstrap_servers" {
  description = "MSK SASL/SCRAM bootstrap brokers (LAKESMITH__KAFKA__BOOTSTRAP_SERVERS)."
  value       = aws_msk_cluster.this.bootstrap_brokers_sasl_scram
}

output "landing_bucket" {
  description = "Landing bucket name."
  value       = aws_s3_bucket.landing.bucket
}

output "lake_warehouse" {
  description = "The Iceberg warehouse (LAKESMITH__LAKE__WAREHOUSE)."
  value       = "s3://${aws_s3_bucket.lake.bucket}/warehouse"
}

output "postgres_endpoint" {
  description = "RDS PostgreSQL host:port."
  value       = aws_db_instance.this.endpoint
}

output "glue_databases" {
  description = "Glue Data Catalog databases holding the lake's Iceberg tables (one per namespace)."
  value       = [for d in aws_glue_catalog_database.lake : d.name]
}

output "athena_workgroup" {
  description = "Athena workgroup for SQL on the lake."
  value       = aws_athena_workgroup.lake.name
}

output "ecs_cluster" {
  description = "ECS cluster name."
  value       = aws_ecs_cluster.this.name
}

output "ecs_services" {
  description = "ECS service names (workers, api, scheduler)."
  value       = [for s in aws_ecs_service.this : s.name]
}

output "secret_arns" {
  description = "Secrets Manager ARNs the tasks read (the values are not output)."
  value = {
    postgres_dsn      = aws_secretsmanager_secret.postgres_dsn.arn
    kafka_client      = aws_secretsmanager_secret.kafka_client.arn
    typesense_api_key = aws_secretsmanager_secret.typesense_api_key.arn
    api_jwt_secret    = aws_secretsmanager_secret.jwt_secret.arn
  }
}

output "log_groups" {
  description = "CloudWatch log group per ECS service."
  value       = { for k, g in aws_cloudwatch_log_group.task : k => g.name }
}
