"""gui layer of edge-screen (installed as edge_screen.gui)."""
