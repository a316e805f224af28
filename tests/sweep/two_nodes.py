"""A sweep on a real two-node Ray cluster on this machine (ray.cluster_utils.Cluster),
as its own process: the tests' process may hold a local Ray of its own. Prints, as JSON,
the sweep's exit code and output, the cluster's nodes and the nodes the runs' training
workers were placed on (from Ray's state API, which the head's dashboard serves).

    python -m tests.sweep.two_nodes SPEC [SWEEP OPTIONS...]
"""

import json
import subprocess
import sys

import ray
from ray.cluster_utils import Cluster
from ray.util.state import list_actors

# Three CPUs a node and two a training worker: two runs training at once cannot share a
# node, so the nodes the workers land on show the sweep using the whole cluster.
CPUS_PER_NODE = 3


def main(spec: str, *options: str) -> None:
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": CPUS_PER_NODE, "include_dashboard": True, "dashboard_port": 8393})
    cluster.add_node(num_cpus=CPUS_PER_NODE)
    cluster.wait_for_nodes()
    try:
        done = subprocess.run([sys.executable, "-m", "jobs.sweep", spec, "--address",
                               cluster.address, *options], capture_output=True, text=True,
                              timeout=900)
        ray.init(address=cluster.address)
        workers = list_actors(address=cluster.address, limit=1000,
                              filters=[("class_name", "=", "RayTrainWorker")],
                              raise_on_missing_output=False)
        print(json.dumps({"returncode": done.returncode, "stdout": done.stdout,
                          "stderr": done.stderr[-3000:],
                          "nodes": sorted(n["NodeID"] for n in ray.nodes() if n["Alive"]),
                          "worker_nodes": [a.node_id for a in workers]}))
    finally:
        ray.shutdown()
        cluster.shutdown()


if __name__ == "__main__":
    main(*sys.argv[1:])
