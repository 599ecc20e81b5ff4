# service_level.gp: each skill's service level per period (a solid line) and its goal (dashed, in
# the same colour). Given with -e: data (tab-separated: period, then per skill its level and its
# goal, with a header row), out (the SVG), heading (the title), timefmt_out (the x labels).
set terminal svg size 1000,500 dynamic enhanced font 'sans,11' background '#ffffff'
set output out
set title heading noenhanced
set datafile separator "\t"
set datafile missing ''
# The number of skills, from the columns (before the x axis becomes time).
stats data using 2 nooutput
skills = (STATS_columns - 1) / 2
set xdata time
set timefmt '%Y-%m-%d %H:%M'
set format x timefmt_out
set xtics rotate by -30
set ylabel 'answered within target (%)'
set yrange [0:105]
set grid ytics
set key outside right top noenhanced
plot for [i=1:skills] data using 1:(column(2*i)) with linespoints lc i pt 7 ps 0.4 title columnhead(2*i), \
     for [i=1:skills] data using 1:(column(2*i+1)) with lines lc i dt 2 title columnhead(2*i+1)
