"""Distributed training under Ray Train with tf.distribute.MultiWorkerMirroredStrategy."""
