"""scripts/refresh-prices on hand-made offer files in AWS's format (tests/fixtures/offers,
laid out as AWS publishes them): it picks the products Berth prices out of the decoys beside
them, writes the table in the shape app/src/cost/table.rs declares, and refuses to write one
with a price missing or in doubt.

    python3 -m unittest discover -s scripts/tests -p 'test_*.py'
"""

import contextlib
import io
import json
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
from decimal import Decimal
from importlib.machinery import SourceFileLoader
from importlib.util import module_from_spec, spec_from_loader
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent.parent
SCRIPT = SCRIPTS / "refresh-prices"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "offers"
TABLE_SHAPE = SCRIPTS.parent / "app" / "src" / "cost" / "table.rs"

# What the fixture's genuine products cost; its decoys cost something else.
INSTANCES = {
    "t3.small": 20_800, "t3.medium": 41_600, "t3.large": 83_200, "t3.xlarge": 166_400,
    "m5.large": 96_000, "m5.xlarge": 192_000, "m5.2xlarge": 384_000,
    "c5.large": 85_000, "c5.xlarge": 170_000, "c5.2xlarge": 340_000,
    "r5.large": 126_000, "r5.xlarge": 252_000,
}
OTHERS = {
    "nat_gateway_hourly": 45_000, "nat_gateway_per_gb": 45_000,
    "load_balancer_hourly": 22_500, "lcu_hourly": 8_000, "public_ipv4_hourly": 5_000,
    "log_ingestion_per_gb": 500_000, "log_storage_per_gb_month": 30_000, "gp3_per_gb_month": 80_000,
}


def load_script():
    loader = SourceFileLoader("refresh_prices", str(SCRIPT))
    module = module_from_spec(spec_from_loader("refresh_prices", loader))
    loader.exec_module(module)
    return module


def money(text):
    return int(text.replace("_", ""))


class RefreshPrices(unittest.TestCase):
    def setUp(self):
        self.dir = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.dir)
        self.output = self.dir / "prices.rs"

    def run_script(self, *args):
        return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True)

    def test_it_writes_the_prices_of_the_genuine_products_and_none_of_the_decoys(self):
        done = self.run_script("--region", "us-east-1", "--output", str(self.output), str(FIXTURES))
        self.assertEqual(done.returncode, 0, done.stderr)
        text = self.output.read_text()
        instances = {name: money(m) for name, m in re.findall(r'\("([^"]+)", Money::from_micros\(([\d_]+)\)\)', text)}
        self.assertEqual(instances, INSTANCES, "Linux, shared, on demand, no software, in the region itself")
        others = {field: money(m) for field, m in re.findall(r"^\s+(\w+): Money::from_micros\(([\d_]+)\),$", text, re.M)}
        self.assertEqual(others, OTHERS, "the first tier that is not free, of the application load balancer, ...")
        self.assertEqual(re.findall(r'region: "([^"]+)"', text), ["us-east-1"])

    def test_it_states_its_source_and_dates_the_prices_by_the_oldest_file(self):
        self.assertEqual(self.run_script("--region", "us-east-1", "--output", str(self.output), str(FIXTURES)).returncode, 0)
        text = self.output.read_text()
        self.assertIn('pub const AS_OF: &str = "2026-10-15";', text)
        source = re.search(r'pub const SOURCE: &str = "(.*)";', text).group(1)
        self.assertIn("AWS Price List bulk offer files", source)
        for offer, date in [("AmazonEC2", "2026-11-20"), ("AWSELB", "2026-11-03"), ("AmazonCloudWatch", "2026-10-15"), ("AmazonVPC", "2026-11-25")]:
            self.assertIn(f"{offer} published {date}", source)

    def test_the_table_it_writes_has_every_field_the_rust_side_declares(self):
        self.assertEqual(self.run_script("--region", "us-east-1", "--output", str(self.output), str(FIXTURES)).returncode, 0)
        declared = re.search(r"pub struct RegionPrices \{(.*?)\n\}", TABLE_SHAPE.read_text(), re.S).group(1)
        fields = re.findall(r"pub (\w+):", declared)
        written = re.findall(r"^        (\w+):", self.output.read_text(), re.M)
        self.assertEqual(fields, written)

    def test_it_reads_files_whose_values_straddle_the_pieces_it_reads(self):
        script = load_script()
        script.JsonStream.CHUNK = 7
        with contextlib.redirect_stdout(io.StringIO()):
            self.assertEqual(script.main(["--region", "us-east-1", "--output", str(self.output), str(FIXTURES)]), 0)
        whole = self.dir / "whole.rs"
        self.assertEqual(self.run_script("--region", "us-east-1", "--output", str(whole), str(FIXTURES)).returncode, 0)
        self.assertEqual(self.output.read_text(), whole.read_text())

    def test_a_region_without_offer_files_is_refused_not_written_as_zero(self):
        done = self.run_script("--region", "us-east-1", "--region", "eu-west-1", "--output", str(self.output), str(FIXTURES))
        self.assertEqual(done.returncode, 1)
        self.assertIn("eu-west-1: no price for t3.small (in its AmazonEC2 offer file)", done.stderr)
        self.assertIn("eu-west-1: no price for lcu_hourly (in its AWSELB offer file)", done.stderr)
        self.assertNotIn("us-east-1:", done.stderr)
        self.assertFalse(self.output.exists())

    def test_products_that_disagree_on_a_price_are_refused(self):
        other = json.loads((FIXTURES / "AmazonEC2" / "current" / "us-east-1" / "index.json").read_text())
        other["products"] = {"NATHOURS2": dict(other["products"]["NATHOURS"], sku="NATHOURS2")}
        term = json.loads(json.dumps(other["terms"]["OnDemand"]["NATHOURS"]).replace("NATHOURS", "NATHOURS2").replace("0.0450000000", "0.0460000000"))
        other["terms"] = {"OnDemand": {"NATHOURS2": term}}
        (self.dir / "second.json").write_text(json.dumps(other))
        done = self.run_script("--region", "us-east-1", "--output", str(self.output), str(FIXTURES), str(self.dir / "second.json"))
        self.assertEqual(done.returncode, 1)
        self.assertIn("us-east-1: products disagree on nat_gateway_hourly", done.stderr)
        self.assertIn("NATHOURS2", done.stderr)

    def test_a_product_priced_in_another_unit_is_refused(self):
        offers = self.dir / "offers"
        shutil.copytree(FIXTURES, offers)
        elb = offers / "AWSELB" / "current" / "us-east-1" / "index.json"
        elb.write_text(elb.read_text().replace('"unit" : "LCU-Hrs"', '"unit" : "Hrs"'))
        done = self.run_script("--region", "us-east-1", "--output", str(self.output), str(offers))
        self.assertEqual(done.returncode, 1)
        self.assertIn("product ALBLCU (lcu_hourly) is priced per 'Hrs', not per 'LCU-Hrs'", done.stderr)

    def test_prices_finer_than_a_millionth_are_rounded_and_said_so(self):
        script = load_script()
        noted = io.StringIO()
        with contextlib.redirect_stderr(noted):
            self.assertEqual(script.micros(Decimal("0.0000125"), "x"), "Money::from_micros(13)")
            self.assertEqual(script.micros(Decimal("0.0416000000"), "y"), "Money::from_micros(41_600)")
        self.assertIn("x is $0.0000125", noted.getvalue())
        self.assertNotIn("y is", noted.getvalue())


if __name__ == "__main__":
    unittest.main()
