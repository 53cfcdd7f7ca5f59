# Glue Data Catalog database (the Iceberg catalog for Athena/Trino/Spark) and an Athena
# workgroup for SQL on the lake.
#
# lakesmith writes its Iceberg tables straight into Glue (lake.catalog = "glue", pyiceberg's
# GlueCatalog with the task role): one Glue database per lake namespace — bronze,
# quarantine, silver and one per gold model — created here so the task role needs no
# glue:CreateDatabase. Athena queries them as <namespace>.<table>.

resource "aws_glue_catalog_database" "lake" {
  for_each    = toset(var.glue_namespaces)
  name        = each.value
  description = "lakesmith's ${each.value} Iceberg tables in s3://${aws_s3_bucket.lake.bucket}/warehouse/${each.value}.db"
}

resource "aws_athena_workgroup" "lake" {
  name          = "${local.name}-lake"
  force_destroy = false

  configuration {
    enforce_workgroup_configuration    = true
    publish_cloudwatch_metrics_enabled = true
    bytes_scanned_cutoff_per_query     = var.athena_bytes_scanned_cutoff

    engine_version {
      selected_engine_version = "Athena engine version 3"
    }

    result_configuration {
      output_location = "s3://${aws_s3_bucket.lake.bucket}/athena-results/"

      encryption_configuration {
        encryption_option = "SSE_S3"
      }
    }
  }
}
