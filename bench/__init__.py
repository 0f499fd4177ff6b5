"""``make bench``: Havn's backup pipeline against restic (bench/backup_bench.py)."""
