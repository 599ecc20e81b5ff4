# volume.gp: the tenant's calls per period: offered, answered, abandoned, and every call.
# Given with -e: data (the volume report's CSV), out (the SVG), heading (the title),
# timefmt_out (the x labels).
set terminal svg size 1000,500 dynamic enhanced font 'sans,11' background '#ffffff'
set output out
set title heading noenhanced
set datafile separator ','
set xdata time
set timefmt '%Y-%m-%d %H:%M'
set format x timefmt_out
set xtics rotate by -30
set ylabel 'calls'
set yrange [0:*]
set grid ytics
set key outside right top
plot data using 1:2 skip 1 with lines lc rgb '#888888' title 'all calls', \
     data using 1:3 skip 1 with linespoints lc rgb '#1f77b4' pt 7 ps 0.4 title 'offered', \
     data using 1:4 skip 1 with linespoints lc rgb '#2ca02c' pt 7 ps 0.4 title 'answered', \
     data using 1:5 skip 1 with linespoints lc rgb '#d62728' pt 7 ps 0.4 title 'abandoned'
