# Logs (one group per ECS service, lakesmith logs JSON lines) and alarms. Alarm actions go
# to var.alarm_actions (e.g. an SNS topic ARN); empty: alarms only show in the console.

resource "aws_cloudwatch_log_group" "task" {
  for_each          = local.tasks
  name              = "/lakesmith/${local.name}/${each.key}"
  retention_in_days = var.log_retention_days
}

resource "aws_cloudwatch_log_group" "flow" {
  name              = "/lakesmith/${local.name}/vpc-flow-rejected"
  retention_in_days = var.log_retention_days
}

resource "aws_cloudwatch_log_group" "msk" {
  name              = "/lakesmith/${local.name}/msk"
  retention_in_days = var.log_retention_days
}

# A worker near its 4 GB: raise the memory or lower worker.batch_size.
resource "aws_cloudwatch_metric_alarm" "task_memory" {
  for_each            = local.tasks
  alarm_name          = "${local.name}-${each.key}-memory"
  alarm_description   = "${each.key}: memory above 85% of the task's ${var.task_memory_mb} MB"
  namespace           = "AWS/ECS"
  metric_name         = "MemoryUtilization"
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 2
  threshold           = 85
  comparison_operator = "GreaterThanThreshold"
  dimensions = {
    ClusterName = aws_ecs_cluster.this.name
    ServiceName = aws_ecs_service.this[each.key].name
  }
  alarm_actions = var.alarm_actions
  ok_actions    = var.alarm_actions
}

# Fewer running tasks than desired (a worker crash-looping: exit 2 after worker.retry_for_s
# of unreachable services, or a bad setting).
resource "aws_cloudwatch_metric_alarm" "task_running" {
  for_each            = local.tasks
  alarm_name          = "${local.name}-${each.key}-running"
  alarm_description   = "${each.key}: fewer running tasks than desired"
  namespace           = "ECS/ContainerInsights"
  metric_name         = "RunningTaskCount"
  statistic           = "Minimum"
  period              = 300
  evaluation_periods  = 2
  threshold           = each.value.count
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "breaching"
  dimensions = {
    ClusterName = aws_ecs_cluster.this.name
    ServiceName = aws_ecs_service.this[each.key].name
  }
  alarm_actions = var.alarm_actions
  ok_actions    = var.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "api_5xx" {
  alarm_name          = "${local.name}-api-5xx"
  alarm_description   = "API answering 5xx"
  namespace           = "AWS/ApplicationELB"
  metric_name         = "HTTPCode_Target_5XX_Count"
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 10
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  dimensions = {
    LoadBalancer = aws_lb.api.arn_suffix
    TargetGroup  = aws_lb_target_group.api.arn_suffix
  }
  alarm_actions = var.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "rds_cpu" {
  alarm_name          = "${local.name}-rds-cpu"
  alarm_description   = "PostgreSQL CPU above 80%"
  namespace           = "AWS/RDS"
  metric_name         = "CPUUtilization"
  statistic           = "Average"
  period              = 300
  evaluation_periods  = 3
  threshold           = 80
  comparison_operator = "GreaterThanThreshold"
  dimensions          = { DBInstanceIdentifier = aws_db_instance.this.identifier }
  alarm_actions       = var.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "rds_storage" {
  alarm_name          = "${local.name}-rds-free-storage"
  alarm_description   = "PostgreSQL free storage below 10 GB"
  namespace           = "AWS/RDS"
  metric_name         = "FreeStorageSpace"
  statistic           = "Minimum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 10 * 1024 * 1024 * 1024
  comparison_operator = "LessThanThreshold"
  dimensions          = { DBInstanceIdentifier = aws_db_instance.this.identifier }
  alarm_actions       = var.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "msk_disk" {
  count               = var.msk_broker_count
  alarm_name          = "${local.name}-msk-disk-broker-${count.index + 1}"
  alarm_description   = "MSK broker ${count.index + 1}: data disk above 80%"
  namespace           = "AWS/Kafka"
  metric_name         = "KafkaDataLogsDiskUsed"
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 2
  threshold           = 80
  comparison_operator = "GreaterThanThreshold"
  dimensions = {
    "Cluster Name" = aws_msk_cluster.this.cluster_name
    "Broker ID"    = tostring(count.index + 1)
  }
  alarm_actions = var.alarm_actions
}
