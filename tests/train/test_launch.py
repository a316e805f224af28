"""The driver side of a run: a failed run's error is one readable line. (Stopping with
SIGTERM, what `ray job stop` sends, then --resume: tests/cluster/test_e2e.py, through a
real job stop.)"""

from lib.train.launch import root_cause


def test_a_tensorflow_graph_error_keeps_its_message_not_its_stack():
    text = ('Graph execution error:\n\nDetected at node adam/CollectiveReduceV2 defined at (most '
            'recent call last):\n  File "/usr/lib/threading.py", line 1002, in _bootstrap\n\n'
            '  File "/w/lib/adapt/step.py", line 23, in step\n\nCollective ops is aborted by: '
            'task 1 is unhealthy\n\t [[{{node adam/CollectiveReduceV2}}]] '
            '[Op:__inference_step_1239]')
    assert root_cause(RuntimeError(text)) == (
        "RuntimeError: Graph execution error: at node adam/CollectiveReduceV2: Collective ops "
        "is aborted by: task 1 is unhealthy")
    assert root_cause(ValueError("plain\n  message")) == "ValueError: plain message"
