# Least privilege: the execution role pulls the image, writes the logs and reads exactly
# the secrets of secrets.tf; lakesmith's S3 access is limited to the two buckets.

data "aws_iam_policy_document" "ecs_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${data.aws_partition.current.partition}:ecs:${var.region}:${data.aws_caller_identity.current.account_id}:*"]
    }
  }
}

# --- execution role (ECS agent: image, logs, secrets) -----------------------------------

resource "aws_iam_role" "execution" {
  name               = "${local.name}-ecs-execution"
  assume_role_policy = data.aws_iam_policy_document.ecs_assume.json
}

resource "aws_iam_role_policy_attachment" "execution_managed" {
  role       = aws_iam_role.execution.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
}

data "aws_iam_policy_document" "read_secrets" {
  statement {
    sid       = "ReadLakesmithSecrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = local.secret_arns
  }
}

resource "aws_iam_role_policy" "execution_secrets" {
  name   = "read-secrets"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.read_secrets.json
}

# --- what lakesmith itself may do in S3 and Glue ---------------------------------------

data "aws_iam_policy_document" "lake_access" {
  statement {
    sid       = "ListBuckets"
    actions   = ["s3:ListBucket", "s3:GetBucketLocation", "s3:ListBucketVersions"]
    resources = [aws_s3_bucket.landing.arn, aws_s3_bucket.lake.arn]
  }

  statement {
    sid       = "ReadLanding"
    actions   = ["s3:GetObject", "s3:GetObjectVersion"]
    resources = ["${aws_s3_bucket.landing.arn}/*"]
  }

  statement {
    sid = "ReadWriteLake"
    actions = [
      "s3:GetObject",
      "s3:GetObjectVersion",
      "s3:PutObject",
      "s3:DeleteObject",
      "s3:AbortMultipartUpload",
      "s3:ListMultipartUploadParts",
    ]
    resources = ["${aws_s3_bucket.lake.arn}/warehouse/*"]
  }

  statement {
    sid = "GlueCatalogDatabase"
    actions = [
      "glue:GetDatabase",
      "glue:GetDatabases",
      "glue:GetTable",
      "glue:GetTables",
      "glue:CreateTable",
      "glue:UpdateTable",
      "glue:DeleteTable", # lakesmith reprocess drops and re-creates downstream tables
    ]
    resources = concat(
      ["arn:${data.aws_partition.current.partition}:glue:${var.region}:${data.aws_caller_identity.current.account_id}:catalog"],
      [for d in aws_glue_catalog_database.lake : d.arn],
      [for d in aws_glue_catalog_database.lake : "arn:${data.aws_partition.current.partition}:glue:${var.region}:${data.aws_caller_identity.current.account_id}:table/${d.name}/*"],
    )
  }
}

resource "aws_iam_policy" "lake_access" {
  name   = "${local.name}-lake-access"
  policy = data.aws_iam_policy_document.lake_access.json
}

# Task role: the identity of the task's AWS SDK calls. lakesmith sets no S3 keys here
# (LAKESMITH__S3__ENDPOINT_URL without keys), so boto3, PyArrow and delta-rs use it.
resource "aws_iam_role" "task" {
  name               = "${local.name}-task"
  assume_role_policy = data.aws_iam_policy_document.ecs_assume.json
}

resource "aws_iam_role_policy_attachment" "task_lake" {
  role       = aws_iam_role.task.name
  policy_arn = aws_iam_policy.lake_access.arn
}
