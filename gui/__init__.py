"""The desktop app: Qt widgets that edit an experiment and draw what the engine computes."""
