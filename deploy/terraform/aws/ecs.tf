# ECS Fargate: a service per streaming workload (`lakesmith run DATASET`), the API
# (`lakesmith serve`, behind the ALB) and the scheduler (`lakesmith schedule`: compaction
# and snapshot expiry). Workers and the API get 4 GB of memory each.

resource "aws_ecs_cluster" "this" {
  name = local.name

  setting {
    name  = "containerInsights"
    value = "enabled"
  }
}

locals {
  # name => {command, desired count, extra environment, extra secrets, port}
  tasks = merge(
    {
      for k, w in var.workers : "worker-${k}" => {
        command     = ["run", w.dataset, "--metrics-port", "9108", "--metrics-host", "0.0.0.0"]
        count       = w.desired_count
        environment = {}
        secrets     = {}
        port        = null
        health      = ["CMD", "python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9108/metrics', timeout=5)"]
      }
    },
    {
      api = {
        command     = ["serve", "--host", "0.0.0.0", "--port", "8000"]
        count       = var.api_desired_count
        environment = local.api_environment
        secrets     = local.api_secrets
        port        = 8000
        health      = ["CMD", "python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=5)"]
      }
      scheduler = {
        command     = ["schedule"]
        count       = 1
        environment = local.scheduler_environment
        secrets     = {}
        port        = null
        health      = ["CMD", "lakesmith", "jobs"]
      }
    },
  )
}

resource "aws_ecs_task_definition" "this" {
  for_each = local.tasks

  family                   = "${local.name}-${each.key}"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.task_cpu
  memory                   = var.task_memory_mb
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  container_definitions = jsonencode([
    {
      name                   = each.key
      image                  = var.image
      essential              = true
      command                = each.value.command
      readonlyRootFilesystem = false
      stopTimeout            = 120 # SIGTERM: the batch in flight is written first
      environment = [
        for name, value in merge(local.lakesmith_environment, each.value.environment) :
        { name = name, value = value }
      ]
      secrets = [
        for name, arn in merge(local.lakesmith_secrets, each.value.secrets) :
        { name = name, valueFrom = arn }
      ]
      portMappings = each.value.port == null ? [] : [
        { containerPort = each.value.port, protocol = "tcp" }
      ]
      healthCheck = {
        command     = each.value.health
        interval    = 30
        timeout     = 10
        retries     = 3
        startPeriod = 60
      }
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.task[each.key].name
          awslogs-region        = var.region
          awslogs-stream-prefix = each.key
        }
      }
    }
  ])
}

resource "aws_ecs_service" "this" {
  for_each = local.tasks

  name            = each.key
  cluster         = aws_ecs_cluster.this.id
  task_definition = aws_ecs_task_definition.this[each.key].arn
  desired_count   = each.value.count
  launch_type     = "FARGATE"

  # Kafka workers: at most one task down during a deploy; the s3 worker (one per dataset)
  # and the scheduler: stop the old task before starting the new one.
  deployment_minimum_healthy_percent = each.value.count > 1 ? 50 : 0
  deployment_maximum_percent         = 100

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = aws_subnet.private[*].id
    security_groups  = [aws_security_group.tasks.id]
    assign_public_ip = false
  }

  dynamic "load_balancer" {
    for_each = each.key == "api" ? [1] : []
    content {
      target_group_arn = aws_lb_target_group.api.arn
      container_name   = "api"
      container_port   = 8000
    }
  }

  health_check_grace_period_seconds = each.key == "api" ? 60 : null

  depends_on = [aws_lb_listener.http]
}

# The API scales on CPU between api_desired_count and api_max_count tasks.
resource "aws_appautoscaling_target" "api" {
  service_namespace  = "ecs"
  resource_id        = "service/${aws_ecs_cluster.this.name}/${aws_ecs_service.this["api"].name}"
  scalable_dimension = "ecs:service:DesiredCount"
  min_capacity       = var.api_desired_count
  max_capacity       = var.api_max_count
}

resource "aws_appautoscaling_policy" "api_cpu" {
  name               = "${local.name}-api-cpu"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.api.service_namespace
  resource_id        = aws_appautoscaling_target.api.resource_id
  scalable_dimension = aws_appautoscaling_target.api.scalable_dimension

  target_tracking_scaling_policy_configuration {
    target_value = 70

    predefined_metric_specification {
      predefined_metric_type = "ECSServiceAverageCPUUtilization"
    }
  }
}
