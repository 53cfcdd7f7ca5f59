# Glue Data Catalog database (the Iceberg catalog for Athena/Trino/Spark) and an Athena
# workgroup for SQL on the lake.
#
# GAP: lakesmith's Iceberg catalog is an SQL catalog (lake.catalog = sqlite | postgres, or
# an SQLAlchemy lake.catalog_uri); it cannot write to Glue today. The tables live in the
# PostgreSQL catalog on RDS; to query them from Athena, register them in this database
# (e.g. Glue's CREATE TABLE … TBLPROPERTIES ('table_type'='ICEBERG') pointing at each
# table's metadata location, or `register_table` with pyiceberg's GlueCatalog). A
# `lake.catalog = "glue"` setting (pyiceberg GlueCatalog) would remove that step.

resource "aws_glue_catalog_database" "lake" {
  name        = replace("${local.name}_lake", "-", "_")
  description = "lakesmith's Iceberg tables (bronze, silver, gold) in s3://${aws_s3_bucket.lake.bucket}/warehouse"
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
