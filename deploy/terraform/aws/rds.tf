# PostgreSQL for the time-series tables, the warehouse (star schemas), the Iceberg SQL
# catalog, the commit locks and the job history. RDS has no TimescaleDB extension:
# lakesmith uses TimescaleDB features only when the extension exists, so plain PostgreSQL
# works; Timescale Cloud (set its DSN in the postgres_dsn secret instead) is the
# alternative when hypertables and compression are wanted.

resource "aws_db_subnet_group" "this" {
  name       = local.name
  subnet_ids = aws_subnet.private[*].id
}

resource "aws_db_parameter_group" "this" {
  name   = local.name
  family = "postgres${split(".", var.postgres_version)[0]}"

  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }

  parameter {
    name  = "log_min_duration_statement"
    value = "1000"
  }
}

resource "random_password" "postgres" {
  length  = 32
  special = false # it goes into the DSN URL unescaped
}

resource "aws_db_instance" "this" {
  identifier     = local.name
  engine         = "postgres"
  engine_version = var.postgres_version
  instance_class = var.rds_instance_class

  allocated_storage     = var.rds_allocated_gb
  max_allocated_storage = var.rds_max_allocated_gb
  storage_type          = "gp3"
  storage_encrypted     = true

  db_name  = "lakesmith"
  username = "lakesmith"
  password = random_password.postgres.result

  multi_az               = var.rds_multi_az
  db_subnet_group_name   = aws_db_subnet_group.this.name
  parameter_group_name   = aws_db_parameter_group.this.name
  vpc_security_group_ids = [aws_security_group.rds.id]
  publicly_accessible    = false

  backup_retention_period         = var.rds_backup_days
  deletion_protection             = var.deletion_protection
  copy_tags_to_snapshot           = true
  skip_final_snapshot             = false
  final_snapshot_identifier       = "${local.name}-final"
  performance_insights_enabled    = true
  enabled_cloudwatch_logs_exports = ["postgresql"]
  auto_minor_version_upgrade      = true
}
