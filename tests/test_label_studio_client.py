"""How the Label Studio client writes predictions: few, large requests for a big project, each allowed long."""
from __future__ import annotations

from types import SimpleNamespace

from relabel.clients.label_studio import IMPORT_TIMEOUT, LabelStudioClient, prediction_chunk


def test_a_big_project_is_written_in_about_ten_requests_a_small_one_in_chunks_of_2000():
    assert prediction_chunk(1) == prediction_chunk(5_000) == prediction_chunk(20_000) == 2_000
    assert prediction_chunk(45_001) == 4_501
    assert prediction_chunk(100_000) == prediction_chunk(1_000_000) == 10_000


class RecordingImports:
    def __init__(self):
        self.requests = []

    def import_predictions(self, id, request, request_options):
        self.requests.append((id, len(request), request_options["timeout"]))


def test_import_predictions_sends_every_prediction_once_in_order_with_a_long_timeout():
    client = LabelStudioClient("http://127.0.0.1:1", "token", timeout=5.0)
    imports = RecordingImports()
    client._sdk = SimpleNamespace(projects=imports)
    rows = [{"task": n, "model_version": "m", "result": []} for n in range(45_001)]
    progress = []
    assert client.import_predictions(7, rows, progress=lambda done, total: progress.append(done)) == 45_001
    assert [size for _, size, _ in imports.requests] == [4_501] * 9 + [45_001 - 9 * 4_501]
    assert {(project, timeout) for project, _, timeout in imports.requests} == {(7, IMPORT_TIMEOUT)}
    assert progress[-1] == 45_001 and progress == sorted(progress)
