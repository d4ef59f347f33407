"""The interactive chart: view state, keys, mouse and saving over the pictures `slavik_tui.charts`
makes. `MetricsChart` is the live training chart; `CompareCharts` lays several side by side."""
