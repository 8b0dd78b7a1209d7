"""What runs on each GPU pod: exporters and servers. Never imports gpuwatch_desktop or Qt."""
