"""`make soak`: a mixed hostile load with four faults against a runner of its own."""
