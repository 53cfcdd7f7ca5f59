# Kafka: MSK provisioned with SASL/SCRAM-SHA-512 over TLS. Not MSK Serverless: Serverless
# accepts IAM authentication only, which librdkafka (lakesmith's Kafka client) needs a
# token-refresh callback for that lakesmith does not have; SCRAM is plain librdkafka
# configuration (LAKESMITH__KAFKA__EXTRA, secrets.tf).
#
# Topics are not Terraform resources here (no Kafka provider): auto-create is off, and
# lakesmith creates a contract's topic with its partition count on first produce
# (sources/topics.py), or create them once with kafka-topics.sh (docs/deployment.md).

resource "aws_msk_configuration" "this" {
  name           = local.name
  kafka_versions = [var.kafka_version]

  server_properties = <<-PROPERTIES
    auto.create.topics.enable=false
    num.partitions=6
    default.replication.factor=3
    min.insync.replicas=2
    log.retention.hours=168
  PROPERTIES
}

resource "aws_msk_cluster" "this" {
  cluster_name           = local.name
  kafka_version          = var.kafka_version
  number_of_broker_nodes = var.msk_broker_count

  broker_node_group_info {
    instance_type   = var.msk_instance_type
    client_subnets  = aws_subnet.private[*].id
    security_groups = [aws_security_group.msk.id]

    storage_info {
      ebs_storage_info {
        volume_size = var.msk_volume_gb
      }
    }
  }

  configuration_info {
    arn      = aws_msk_configuration.this.arn
    revision = aws_msk_configuration.this.latest_revision
  }

  client_authentication {
    sasl {
      scram = true
    }
  }

  encryption_info {
    encryption_in_transit {
      client_broker = "TLS"
      in_cluster    = true
    }
  }

  logging_info {
    broker_logs {
      cloudwatch_logs {
        enabled   = true
        log_group = aws_cloudwatch_log_group.msk.name
      }
    }
  }
}

# MSK reads SCRAM users from secrets named AmazonMSK_*, encrypted with a customer key.
resource "aws_kms_key" "msk_scram" {
  description             = "${local.name}: MSK SCRAM credentials"
  deletion_window_in_days = 7
  enable_key_rotation     = true
}

resource "random_password" "kafka" {
  length  = 32
  special = false
}

resource "aws_secretsmanager_secret" "msk_scram" {
  name       = "AmazonMSK_${local.name}"
  kms_key_id = aws_kms_key.msk_scram.key_id
}

resource "aws_secretsmanager_secret_version" "msk_scram" {
  secret_id     = aws_secretsmanager_secret.msk_scram.id
  secret_string = jsonencode({ username = "lakesmith", password = random_password.kafka.result })
}

resource "aws_msk_scram_secret_association" "this" {
  cluster_arn     = aws_msk_cluster.this.arn
  secret_arn_list = [aws_secretsmanager_secret.msk_scram.arn]
  depends_on      = [aws_secretsmanager_secret_version.msk_scram]
}
